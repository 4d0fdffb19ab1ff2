package staple

// Selecting the work: which sets and certificates are due (renew window,
// backoff, --force), under the per-set OCSP lock.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// SetsFromRecords makes one Set per record, reading the installed
// certificates from domains/<md>/. Revocation is checked for every MD
// (md-order renews a revoked certificate at once); stapling decides only
// whether the response is deployed for web servers: a record with
// stapling off gets a check-only set (no deploy files, no events, a failed
// check is a warning), and a must-staple one also a warning.
func (r *Runner) SetsFromRecords(ctx context.Context, recs []*md.Record) []*Set {
	all := make([]*Set, len(recs))
	forEach(len(recs), scanParallel, func(i int) { all[i] = r.setFromRecord(ctx, recs[i]) })
	var sets []*Set
	for _, s := range all {
		if s != nil {
			sets = append(sets, s)
		}
	}
	return sets
}

// setFromRecord makes the Set of one record (see SetsFromRecords); nil
// when its certificates cannot be read (the record says why).
func (r *Runner) setFromRecord(ctx context.Context, rec *md.Record) *Set {
	if !rec.Stapling && rec.MustStaple {
		msg := "must-staple is on but stapling is off: clients will refuse this certificate unless the server staples (set MDStapling on)"
		rec.Staple = &md.StapleResult{Warnings: []string{msg}}
		r.logf("warn", "%s: %s", rec.Name, msg)
	}
	targets, err := targetsOf(ctx, r.Store, rec)
	if err != nil {
		if rec.Staple == nil {
			rec.Staple = &md.StapleResult{}
		}
		rec.Staple.At = md.NewTime(r.now())
		failRecord(rec, err)
		return nil
	}
	if !rec.Stapling {
		for _, t := range targets {
			t.Deploy, t.Mode = "", nil
		}
	}
	return &Set{Group: rec.Name, Record: rec, Settings: rec.Settings, Targets: targets, checkOnly: !rec.Stapling}
}

// SetFromFiles makes the "other" set from certificate chain files
// (leaf first, then the issuer), reported in a record named "other". With
// nextTo, the DER response is also written to <file>.ocsp.
func (r *Runner) SetFromFiles(files []string, settings *md.Settings, nextTo bool) *Set {
	rec := &md.Record{MD: md.MD{Name: GroupOther}, Settings: settings}
	set := &Set{Group: GroupOther, Record: rec, Settings: settings}
	for _, f := range files {
		t := &Target{Spec: "", File: f}
		data, err := fsread.ReadFile(f, fsread.MaxPEM)
		if err != nil {
			t.parseErr = fmt.Errorf("reading certificate: %w", err)
		} else if t.ID, err = leafID(data); err != nil {
			t.parseErr = fmt.Errorf("%s: %w", f, err)
		} else {
			t.PEM = data
			if nextTo {
				t.Deploy = f + ".ocsp"
			}
		}
		set.Targets = append(set.Targets, t)
	}
	return set
}

// prepare reads the set's settings and job.
func (r *Runner) prepare(s *Set) error {
	cfg := s.Settings
	if cfg == nil {
		cfg = &md.Settings{}
	}
	var err error
	if s.window, err = md.ParseTimeslice(orDefault(cfg.StaplingRenewWindow, md.DefaultStaplingRenewWindow), md.Day); err != nil {
		return fmt.Errorf("settings: stapling-renew-window: %w", err)
	}
	if s.delay, err = md.ParseDuration(orDefault(cfg.RetryDelay, md.DefaultRetryDelay), time.Second); err != nil {
		return fmt.Errorf("settings: retry-delay: %w", err)
	}
	if s.keep, err = md.ParseDuration(orDefault(cfg.StaplingKeepResponse, md.DefaultStaplingKeepResponse), md.Day); err != nil {
		return fmt.Errorf("settings: stapling-keep-response: %w", err)
	}
	return nil
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// loadJob reads ocsp/<group>/job.json once per set.
func (r *Runner) loadJob(ctx context.Context, s *Set) error {
	if s.job != nil {
		return nil
	}
	job, err := r.Store.LoadJob(ctx, store.GroupOCSP, s.Group)
	if err != nil {
		return err
	}
	s.job, s.certs = job, ocspfile.JobCerts(job)
	return nil
}

// scan decides for every target whether it is due, from the stored files
// alone: certificates are parsed only when something must be done.
func (r *Runner) scan(ctx context.Context, s *Set, now time.Time) {
	for _, t := range s.Targets {
		r.scanTarget(ctx, s, t, now)
	}
	// Point the work at its entry only now: append may have moved them.
	for _, w := range s.due {
		w.entry = &s.entries[w.idx]
	}
}

// scanTarget adds the entry of one target to the set, and the target to
// the set's due work when a response must be fetched.
func (r *Runner) scanTarget(ctx context.Context, s *Set, t *Target, now time.Time) {
	e := md.StapledStatus{Spec: t.Spec, ID: t.ID, Status: StatusNone}
	if s.Group == GroupOther {
		e.Cert = t.File
	}
	if t.parseErr != nil {
		e.Action, e.Detail = "failed", t.parseErr.Error()
		s.entries = append(s.entries, e)
		failRecord(s.Record, t.parseErr)
		return
	}
	if t.PEM == nil {
		e.Action, e.Detail = "skipped", "no installed certificate ("+t.File+")"
		s.entries = append(s.entries, e)
		return
	}
	st, stored := r.storedState(ctx, s, t, &e)
	if !st.HasResponse || !now.Before(e.RenewAt.Time) || r.Force {
		if err := r.loadJob(ctx, s); err != nil {
			failRecord(s.Record, err)
			e.Action, e.Detail = "failed", err.Error()
			s.entries = append(s.entries, e)
			return
		}
		if cs, ok := s.certs[t.ID]; ok {
			st.Errors, st.NextRun = cs.Errors, cs.NextRun.Time
			e.Errors, e.NextRun = cs.Errors, cs.NextRun
			if cs.LastError != "" {
				e.Detail = cs.LastError
			}
		}
	}
	due, _ := renew.OCSPDue(now, st, s.window)
	if r.Force {
		due = true
	}
	if !due {
		r.keep(s, t, &e, st, stored, now)
		s.entries = append(s.entries, e)
		return
	}
	s.entries = append(s.entries, e)
	s.due = append(s.due, &work{set: s, t: t, stored: stored, idx: len(s.entries) - 1})
}

// storedState reads the stored OCSP response (else CRL verdict) of a
// target into its state and entry.
func (r *Runner) storedState(ctx context.Context, s *Set, t *Target, e *md.StapledStatus) (renew.OCSPState, *Stored) {
	st := renew.OCSPState{}
	stored, ok, err := LoadResponse(ctx, r.Store, s.Group, t.ID)
	if err != nil {
		r.logf("warn", "%s: %v (fetching a new response)", s.Group, err)
	}
	if ok {
		st.HasResponse, st.Valid = true, stored.Valid
		e.Status, e.Valid, e.Source = stored.Status, stored.Valid, "ocsp"
	} else if cs, ok, err := LoadCRLStatus(ctx, r.Store, s.Group, t.ID); ok && err == nil {
		st.HasResponse, st.Valid = true, cs.Valid
		e.Status, e.Valid, e.Source, e.CRL = cs.Status, cs.Valid, "crl", cs.CRL
		e.Detail = noOCSPDetail
	}
	if st.HasResponse {
		e.RenewAt = md.NewTime(renew.OCSPRenewAt(st.Valid.From.Time, st.Valid.Until.Time, s.window))
	}
	return st, stored
}

// keep fills the entry of a target that is not due ("kept", or "waiting"
// in a backoff) and keeps its deployed response file current.
func (r *Runner) keep(s *Set, t *Target, e *md.StapledStatus, st renew.OCSPState, stored *Stored, now time.Time) {
	e.Action = "kept"
	if st.Errors > 0 && now.Before(st.NextRun) {
		e.Action = "waiting" // backoff after a failure, detail says which
	}
	if st.HasResponse && !now.Before(st.Valid.Until.Time) {
		e.Detail = "the stored response expired at " + st.Valid.Until.UTC().Format(httpTime) +
			"; it is still served (clients decide) until a new one arrives"
	}
	if t.Deploy != "" && st.HasResponse && e.Source == "ocsp" {
		if der, err := stored.DER(); err == nil {
			if _, err := deployTarget(t, der); err != nil {
				r.deployFailed(s, t, err)
			} else {
				e.File = t.Deploy
			}
		}
	}
}

// skipError is a certificate md-staple cannot check: no issuer in its
// chain, no OCSP responder nor CRL, or expired. It is a warning, not a
// failed attempt, and is looked at again after skipRecheck.
type skipError struct{ error }

func (e *skipError) Unwrap() error { return e.error }

const skipRecheck = 24 * time.Hour

const noOCSPDetail = "the certificate names no OCSP responder; revocation is checked with its CRL"

func specLabel(t *Target) string {
	if t.Spec != "" {
		return t.Spec
	}
	return t.File
}

func (s *Set) mustStaple(id string) bool {
	for _, t := range s.Targets {
		if t.ID == id && t.leaf != nil {
			return renew.HasMustStaple(t.leaf)
		}
	}
	return false
}
