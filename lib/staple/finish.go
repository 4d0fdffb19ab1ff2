package staple

// Finishing a set: persist what was fetched and verified, deploy the DER
// files, back off failures, update job.json and raise the events.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// finish stores the outcome of a set's work, updates its job, raises
// events, prunes and fills the record.
func (r *Runner) finish(ctx context.Context, s *Set) {
	now := r.now()
	rec := s.Record
	if rec.Staple == nil {
		rec.Staple = &md.StapleResult{}
	}
	rec.Staple.At = md.NewTime(now)
	if len(s.due) > 0 {
		if err := r.loadJob(ctx, s); err != nil {
			failRecord(rec, err)
			s.job, s.certs = &md.Job{Name: s.Group}, map[string]ocspfile.CertState{}
		}
		s.job.AddLog(now, "starting", "", "")
	}
	var sum runSummary
	for _, w := range s.due {
		r.settle(ctx, s, w, now, &sum)
	}
	r.warnMustStapleWithoutOCSP(s)
	if len(s.due) > 0 {
		r.closeJob(ctx, s, now, &sum)
		// Only where something changed: a new certificate (new id) is
		// always due, so that is when old files start to age out. A run
		// with nothing due does not even list the directory. Temp files
		// of a run killed mid-write go first (this run holds the set's
		// lock, so no live writer owns them).
		if n, err := r.Store.SweepTemp(ctx, store.GroupOCSP, s.Group); err != nil {
			r.logf("warn", "%s: sweeping temp files: %v", s.Group, err)
		} else if n > 0 {
			r.logf("info", "%s: removed %d temp file(s) a killed run left", s.Group, n)
		}
		r.prune(ctx, s, now)
	}
	if s.checkOnly {
		for i := range s.entries {
			if s.entries[i].Detail == "" {
				s.entries[i].Detail = checkOnlyDetail
			}
		}
	}
	rec.Staple.Responses = append(rec.Staple.Responses, s.entries...)
	noteUntil(r.Notes, s, now)
}

// runSummary is what a set's due certificates came to, for its job.json.
type runSummary struct {
	renewed, errored         bool
	lastActivity, lastDetail string
	lastErr                  error
}

// settle stores the outcome of one due certificate: a fresh response (or
// CRL verdict) is persisted and deployed; a failure backs off and keeps
// the last good response deployed; a skip looks again in a day.
func (r *Runner) settle(ctx context.Context, s *Set, w *work, now time.Time, sum *runSummary) {
	t := w.t
	activity := fmt.Sprintf("status of certid %s", t.ID)
	if t.ocspURL != "" {
		activity += ", reading response"
	} else if t.crlURL != "" {
		activity += ", reading CRL " + t.crlURL
	}
	if w.err == nil {
		w.err = r.store(ctx, s, w, now)
	}
	var skip *skipError
	switch {
	case errors.As(w.err, &skip):
		r.skipped(s, w, now)
	case w.err != nil:
		sum.errored, sum.lastErr = true, w.err
		sum.lastActivity, sum.lastDetail = activity, w.err.Error()
		r.failed(s, w, now, activity)
	default:
		sum.renewed = true
		sum.lastActivity, sum.lastDetail = activity, r.fetched(s, w, now, activity)
	}
}

// skipped is a certificate that is not the responder's fault and not
// fixed by retrying soon: look again in a day, without error events.
func (r *Runner) skipped(s *Set, w *work, now time.Time) {
	e, t := w.entry, w.t
	s.certs[t.ID] = ocspfile.CertState{Spec: t.Spec, Errors: 1, NextRun: md.NewTime(now.Add(skipRecheck)), LastError: w.err.Error()}
	e.Action, e.Status, e.Source, e.Detail = "skipped", StatusNone, "", w.err.Error()
	e.NextRun = md.NewTime(now.Add(skipRecheck))
	if w.stored != nil {
		e.Status = w.stored.Status
	}
	if s.checkOnly && errors.Is(w.err, errNoRevocationSource) {
		// nothing to staple and nothing to check: not worth a
		// warning where nobody asked for stapling
		r.logf("info", "%s: certificate %s (%s): %v", s.Group, t.ID, specLabel(t), w.err)
		return
	}
	warn(r, s.Record, fmt.Sprintf("certificate %s (%s): %v", t.ID, specLabel(t), w.err))
}

// failed backs a certificate off and fails the record; the last good
// response stays deployed.
func (r *Runner) failed(s *Set, w *work, now time.Time, activity string) {
	e, t := w.entry, w.t
	cs := s.certs[t.ID]
	cs.Spec = t.Spec
	cs.Errors++
	cs.NextRun = md.NewTime(now.Add(renew.Backoff(s.delay, cs.Errors, "", r.jitter())))
	cs.LastError = w.err.Error()
	s.certs[t.ID] = cs
	e.Action, e.Detail = "failed", w.err.Error()
	e.Errors, e.NextRun = cs.Errors, cs.NextRun
	s.job.AddLog(now, "ocsp-error", "", activity+": "+w.err.Error())
	if s.checkOnly {
		warn(r, s.Record, fmt.Sprintf("certificate %s (%s): revocation check failed: %v (stapling is off: nothing is served from it)", t.ID, specLabel(t), w.err))
		return
	}
	kept := "; the last good response is kept"
	if w.stored == nil {
		kept = "; there is no response to staple yet"
	}
	failRecord(s.Record, fmt.Errorf("certificate %s (%s): %w%s", t.ID, specLabel(t), w.err, kept))
	if w.stored != nil && t.Deploy != "" {
		if der, err := w.stored.DER(); err == nil {
			if _, err := deployTarget(t, der); err == nil {
				e.File = t.Deploy
			}
		}
	}
}

// fetched records a fresh status and returns the job's detail for it.
func (r *Runner) fetched(s *Set, w *work, now time.Time, activity string) string {
	e, t := w.entry, w.t
	delete(s.certs, t.ID)
	e.Action, e.Errors, e.NextRun = "fetched", 0, md.Time{}
	var status string
	var from, until time.Time
	if w.resp != nil {
		status = w.resp.Status
		from, until = w.resp.Valid()
	} else {
		status, from, until = w.crl.Status, w.crl.Valid.From.Time, w.crl.Valid.Until.Time
	}
	e.Status = status
	e.Valid = md.Period{From: md.NewTime(from), Until: md.NewTime(until)}
	e.RenewAt = md.NewTime(renew.OCSPRenewAt(e.Valid.From.Time, e.Valid.Until.Time, s.window))
	detail := fmt.Sprintf("certificate status is %s, status valid %s", strings.ToUpper(status), formatPeriod(from, until))
	s.job.AddLog(now, "progress", "", activity+": "+detail)
	r.logf("info", "%s: certid %s (%s): %s", s.Group, t.ID, specLabel(t), detail)
	if status == StatusRevoked {
		warn(r, s.Record, fmt.Sprintf("certificate %s (%s) is REVOKED; md-order will renew it", t.ID, specLabel(t)))
	}
	return detail
}

// warnMustStapleWithoutOCSP warns about must-staple certificates whose CA
// has only a CRL: nothing can be stapled for them.
func (r *Runner) warnMustStapleWithoutOCSP(s *Set) {
	for i := range s.entries {
		e := &s.entries[i]
		if e.Source == "crl" && (s.Record.MustStaple || s.mustStaple(e.ID)) {
			warn(r, s.Record, fmt.Sprintf("certificate %s (%s) requires stapling (must-staple) but its CA runs no OCSP responder: TLS clients will reject it; turn MDMustStaple off and renew",
				e.ID, orDefault(e.Spec, e.Cert)))
		}
	}
}

// closeJob finishes the set's job.json (next run, last result, per
// certificate backoff), raises the events and saves it.
func (r *Runner) closeJob(ctx context.Context, s *Set, now time.Time, sum *runSummary) {
	s.job.AddLog(now, "finished", "", "")
	s.job.Finished = true
	s.job.LastRun = md.NewTime(now)
	s.job.Errors = 0
	next := time.Time{}
	for _, e := range s.entries {
		t := e.RenewAt.Time
		if e.Errors > 0 {
			t = e.NextRun.Time
			s.job.Errors = max(s.job.Errors, e.Errors)
		}
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	s.job.NextRun = md.NewTime(next)
	s.job.Last = &md.JobResult{Activity: sum.lastActivity, Detail: sum.lastDetail}
	if sum.lastErr != nil && sum.errored {
		s.job.Last.Status = 22
		if errors.Is(sum.lastErr, ErrStatusUnknown) {
			s.job.Last.Status = 2
		}
	}
	ocspfile.SetJobCerts(s.job, s.certs)
	if sum.renewed && !s.checkOnly {
		r.raise(ctx, s, "ocsp-renewed", now)
	}
	if sum.errored && !s.checkOnly {
		r.raise(ctx, s, "ocsp-errored", now)
	}
	if err := r.Store.SaveJob(ctx, store.GroupOCSP, s.Group, s.job); err != nil {
		failRecord(s.Record, err)
	}
}

const checkOnlyDetail = "stapling is off: checked for revocation only, not deployed"

// deployFailed reports a DER file that could not be written: a deploy set
// md-install has not made yet is normal (noted), anything else fails the
// record (the response itself is stored).
func (r *Runner) deployFailed(s *Set, t *Target, err error) {
	if errors.Is(err, errNotDeployed) {
		r.logf("info", "%s: %v: no OCSP file for nginx/HAProxy until md-install deploys", s.Group, err)
		return
	}
	failRecord(s.Record, fmt.Errorf("writing %s: %w", t.Deploy, err))
}

// store persists a verified response or CRL verdict and writes the
// deploy file.
func (r *Runner) store(ctx context.Context, s *Set, w *work, now time.Time) error {
	t := w.t
	if w.resp != nil {
		if err := r.Store.SaveJSON(ctx, store.GroupOCSP, s.Group, ResponseFile(t.ID), storedFrom(w.resp)); err != nil {
			return fmt.Errorf("saving the response: %w", err)
		}
		if t.Deploy != "" {
			if _, err := deployTarget(t, w.resp.DER); err != nil {
				r.deployFailed(s, t, err)
			} else {
				w.entry.File = t.Deploy
			}
		}
		return nil
	}
	if err := r.Store.SaveJSON(ctx, store.GroupOCSP, s.Group, CRLStatusFile(t.ID), w.crl); err != nil {
		return fmt.Errorf("saving the CRL status: %w", err)
	}
	return nil
}

// raise signals an event, at most once per mod_md's interval per set.
func (r *Runner) raise(ctx context.Context, s *Set, reason string, now time.Time) {
	if last, ok := s.job.LastEntry("message-" + reason); ok && now.Sub(last.When.Time) < eventInterval[reason] {
		r.logf("debug", "%s: rate limiting event %s", s.Group, reason)
		return
	}
	newNotifier := r.Notifier
	if newNotifier == nil {
		newNotifier = func(cfg *md.Settings) Notifier {
			n := event.New(cfg)
			if r.Log != nil {
				n.Log = r.Log
			}
			if r.Store != nil {
				m, _ := r.Store.LoadMD(ctx, store.GroupDomains, s.Group) // nil: no file paths
				n.Env = event.PathEnv(r.Store.String(), m)
			}
			return n
		}
	}
	if md.ValidateDomain(s.Group) != nil {
		r.logf("debug", "%s: no %s event for a set that is not an MD", s.Group, reason)
		return
	}
	cfg := s.Settings
	if cfg == nil {
		cfg = &md.Settings{}
	}
	if err := newNotifier(cfg).Raise(ctx, s.job, reason, s.Group, now); err != nil {
		if strings.Contains(err.Error(), "not implemented") {
			r.logf("debug", "%s: event %s: %v", s.Group, reason, err)
			return
		}
		r.logf("warn", "%s: event %s: %v", s.Group, reason, err)
	}
}
