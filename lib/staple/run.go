package staple

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Notifier raises events (event.Notifier fits).
type Notifier interface {
	Raise(ctx context.Context, job *md.Job, reason, name string, now time.Time) error
}

// Event rate limits, as mod_md's notify_rates.
var eventInterval = map[string]time.Duration{
	"ocsp-renewed": 24 * time.Hour,
	"ocsp-errored": time.Hour,
}

// Runner fetches, verifies and stores OCSP responses (or CRL verdicts)
// for sets of certificates. The zero value is not usable: set Store.
type Runner struct {
	Store    *store.Store
	Log      logger.Logger
	Now      func() time.Time            // default time.Now
	Timeout  time.Duration               // per request, default DefaultTimeout
	Parallel int                         // concurrent requests, default DefaultParallel
	Force    bool                        // ignore renew windows and backoff
	LockWait time.Duration               // for the per-MD OCSP lock (0: the store's default)
	Jitter   func() byte                 // random byte for the backoff jitter
	Notifier func(*md.Settings) Notifier // default event.New

	clientMu sync.Mutex
	clients  map[string]*http.Client
	crlMu    sync.Mutex
	crls     map[string]*crlFetch
}

// Set is the certificates of one ocsp/ group (an MD, or "other") and the
// record that reports on them.
type Set struct {
	Group    string
	Record   *md.Record
	Settings *md.Settings
	Targets  []*Target

	// checkOnly: stapling is off, the response only tells whether the
	// certificate is revoked.
	checkOnly bool
	job       *md.Job
	certs     map[string]certState
	window    md.Timeslice
	delay     time.Duration
	keep      time.Duration
	unlock    func()
	due       []*work
	entries   []md.StapledStatus
}

// work is one due certificate.
type work struct {
	set    *Set
	t      *Target
	entry  *md.StapledStatus
	idx    int
	stored *Stored // the response kept so far, if any
	resp   *Response
	crl    *CRLStatus
	err    error
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) logf(level, format string, args ...any) {
	if r.Log == nil {
		return
	}
	switch level {
	case "warn":
		r.Log.Warnf(format, args...)
	case "info":
		r.Log.Infof(format, args...)
	default:
		r.Log.Debugf(format, args...)
	}
}

// SetsFromRecords makes one Set per record, reading the installed
// certificates from domains/<md>/. Revocation is checked for every MD
// (md-order renews a revoked certificate at once); stapling decides only
// whether the response is deployed for web servers: a record with
// stapling off gets a check-only set (no deploy files, no events, a failed
// check is a warning), and a must-staple one also a warning.
func (r *Runner) SetsFromRecords(ctx context.Context, recs []*md.Record) []*Set {
	all := make([]*Set, len(recs))
	forEach(len(recs), scanParallel, func(i int) {
		rec := recs[i]
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
			return
		}
		if !rec.Stapling {
			for _, t := range targets {
				t.Deploy, t.Mode = "", nil
			}
		}
		all[i] = &Set{Group: rec.Name, Record: rec, Settings: rec.Settings, Targets: targets, checkOnly: !rec.Stapling}
	})
	var sets []*Set
	for _, s := range all {
		if s != nil {
			sets = append(sets, s)
		}
	}
	return sets
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

// Run brings every set's responses up to date: it reads what is stored,
// fetches what is due (in parallel, bounded), stores and deploys new
// responses, updates the OCSP job logs, raises events, prunes old files,
// and fills each set's record with a staple section (and an error when an
// attempt failed). It returns an error only for problems that stop the
// whole run (a store lock held elsewhere: errors.Is(err, store.ErrLocked)).
func (r *Runner) Run(ctx context.Context, sets []*Set) error {
	now := r.now()
	r.crlMu.Lock()
	r.crls = nil // CRLs are shared within a run, not across runs
	r.crlMu.Unlock()
	forEach(len(sets), scanParallel, func(i int) {
		s := sets[i]
		if err := r.prepare(s); err != nil {
			failRecord(s.Record, err)
			s.Targets = nil
			return
		}
		r.scan(ctx, s, now)
	})
	// Lock the sets with work, in name order, then re-check what is due:
	// another run may have fetched meanwhile.
	locked := make([]*Set, 0)
	for _, s := range sets {
		if len(s.due) > 0 {
			locked = append(locked, s)
		}
	}
	sort.Slice(locked, func(i, j int) bool { return locked[i].Group < locked[j].Group })
	defer func() {
		for _, s := range locked {
			if s.unlock != nil {
				s.unlock()
			}
		}
	}()
	for _, s := range locked {
		unlock, err := r.Store.Lock(ctx, lockName(s.Group), r.LockWait)
		if err != nil {
			return fmt.Errorf("locking the OCSP data of %s: %w", s.Group, err)
		}
		s.unlock = unlock
		s.due, s.entries, s.job = nil, nil, nil
		if err := r.prepare(s); err != nil {
			failRecord(s.Record, err)
			continue
		}
		r.scan(ctx, s, now)
	}
	var all []*work
	for _, s := range sets {
		all = append(all, s.due...)
	}
	r.fetchAll(ctx, all)
	// Storing is mostly waiting for fsync: overlap the sets' writes.
	forEach(len(sets), finishParallel, func(i int) { r.finish(ctx, sets[i]) })
	return nil
}

// Bounds of the store work done at once: reading is syscall-bound,
// storing mostly waits for fsync.
const (
	scanParallel   = 8
	finishParallel = 16
)

// forEach calls f(0..n-1) on at most par goroutines.
func forEach(n, par int, f func(i int)) { pool.Each(n, par, f) }

func lockName(group string) string { return "_ocsp." + group }

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
	s.job, s.certs = job, jobCerts(job)
	return nil
}

// scan decides for every target whether it is due, from the stored files
// alone: certificates are parsed only when something must be done.
func (r *Runner) scan(ctx context.Context, s *Set, now time.Time) {
	for _, t := range s.Targets {
		e := md.StapledStatus{Spec: t.Spec, ID: t.ID, Status: StatusNone}
		if s.Group == GroupOther {
			e.Cert = t.File
		}
		if t.parseErr != nil {
			e.Action, e.Detail = "failed", t.parseErr.Error()
			s.entries = append(s.entries, e)
			failRecord(s.Record, t.parseErr)
			continue
		}
		if t.PEM == nil {
			e.Action, e.Detail = "skipped", "no installed certificate ("+t.File+")"
			s.entries = append(s.entries, e)
			continue
		}
		st := State{}
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
			e.RenewAt = md.NewTime(RenewAt(st.Valid.From.Time, st.Valid.Until.Time, s.window))
		}
		if !st.HasResponse || !now.Before(e.RenewAt.Time) || r.Force {
			if err := r.loadJob(ctx, s); err != nil {
				failRecord(s.Record, err)
				e.Action, e.Detail = "failed", err.Error()
				s.entries = append(s.entries, e)
				continue
			}
			if cs, ok := s.certs[t.ID]; ok {
				st.Errors, st.NextRun = cs.Errors, cs.NextRun.Time
				e.Errors, e.NextRun = cs.Errors, cs.NextRun
				if cs.LastError != "" {
					e.Detail = cs.LastError
				}
			}
		}
		due, _ := Due(now, st, s.window)
		if r.Force {
			due = true
		}
		if !due {
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
					if _, err := writeDeploy(t.Deploy, der, t.Mode); err != nil {
						r.deployFailed(s, t, err)
					} else {
						e.File = t.Deploy
					}
				}
			}
			s.entries = append(s.entries, e)
			continue
		}
		s.entries = append(s.entries, e)
		s.due = append(s.due, &work{set: s, t: t, stored: stored, idx: len(s.entries) - 1})
	}
	// Point the work at its entry only now: append may have moved them.
	for _, w := range s.due {
		w.entry = &s.entries[w.idx]
	}
}

// skipError is a certificate md-staple cannot check: no issuer in its
// chain, no OCSP responder nor CRL, or expired. It is a warning, not a
// failed attempt, and is looked at again after skipRecheck.
type skipError struct{ error }

func (e *skipError) Unwrap() error { return e.error }

const skipRecheck = 24 * time.Hour

const noOCSPDetail = "the certificate names no OCSP responder; revocation is checked with its CRL"

// fetchAll runs the due work with at most Parallel requests at a time.
func (r *Runner) fetchAll(ctx context.Context, all []*work) {
	n := r.Parallel
	if n <= 0 {
		n = DefaultParallel
	}
	pool.Each(len(all), n, func(i int) { r.fetch(ctx, all[i]) })
}

// fetch gets and verifies one response (or CRL verdict).
func (r *Runner) fetch(ctx context.Context, w *work) {
	t, e := w.t, w.entry
	if err := t.parse(); err != nil {
		if t.leaf != nil { // a chain without issuer: nothing to ask
			err = &skipError{err}
		}
		w.err = err
		return
	}
	if now := r.now(); now.After(t.leaf.NotAfter) {
		w.err = &skipError{fmt.Errorf("the certificate expired at %s: no OCSP for it", t.leaf.NotAfter.UTC().Format(httpTime))}
		return
	}
	proxy, proxyCA := "", ""
	if w.set.Settings != nil {
		proxy, proxyCA = w.set.Settings.HTTPProxy, w.set.Settings.ProxyCACerts
	}
	client, err := r.client(proxy, proxyCA)
	if err != nil {
		w.err = err
		return
	}
	if t.ocspURL == "" {
		e.Source, e.Responder, e.CRL = "crl", "", t.crlURL
		if t.crlURL == "" {
			w.err = &skipError{errNoRevocationSource}
			return
		}
		e.Detail = noOCSPDetail
		w.crl, w.err = r.checkCRL(ctx, client, w.set.Group, t)
		return
	}
	e.Source, e.Responder = "ocsp", t.ocspURL
	req, err := Request(t.leaf, t.issuer)
	if err != nil {
		w.err = fmt.Errorf("building the OCSP request: %w", err)
		return
	}
	r.logf("debug", "%s: status of certid %s, contacting %s", w.set.Group, t.ID, t.ocspURL)
	body, err := postOCSP(ctx, client, t.ocspURL, req)
	if err != nil {
		w.err = err
		return
	}
	w.resp, w.err = Verify(body, t.leaf, t.issuer, r.now())
	if w.err == nil && w.stored != nil && w.resp.ThisUpdate.Truncate(time.Second).Before(w.stored.Valid.From.Time) {
		w.resp, w.err = nil, fmt.Errorf("response (thisUpdate %s) is older than the stored one (%s): a stale cache or a replay",
			w.resp.ThisUpdate.UTC().Format(time.RFC3339), w.stored.Valid.From.UTC().Format(time.RFC3339))
	}
}

func (r *Runner) client(proxy, proxyCA string) (*http.Client, error) {
	r.clientMu.Lock()
	defer r.clientMu.Unlock()
	key := proxy + "\x00" + proxyCA
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	c, err := NewHTTPClient(proxy, proxyCA, r.Timeout)
	if err != nil {
		return nil, err
	}
	if r.clients == nil {
		r.clients = map[string]*http.Client{}
	}
	r.clients[key] = c
	return c, nil
}

// crlFetch is one CRL download shared by every certificate of a run.
type crlFetch struct {
	once sync.Once
	crl  *x509.RevocationList
	err  error
}

// checkCRL finds t's status in its CRL: the copy cached in the store while
// it is outside its renew window, else a fresh download (verified, then
// cached).
func (r *Runner) checkCRL(ctx context.Context, c *http.Client, group string, t *Target) (*CRLStatus, error) {
	r.crlMu.Lock()
	if r.crls == nil {
		r.crls = map[string]*crlFetch{}
	}
	key := group + "\x00" + t.crlURL + "\x00" + string(t.issuer.Raw)
	f, ok := r.crls[key]
	if !ok {
		f = &crlFetch{}
		r.crls[key] = f
	}
	r.crlMu.Unlock()
	f.once.Do(func() { f.crl, f.err = r.loadCRL(ctx, c, group, t) })
	if f.err != nil {
		return nil, f.err
	}
	status, at := CheckCRL(f.crl, t.leaf)
	from, until := crlValid(f.crl)
	cs := &CRLStatus{Status: status, CRL: t.crlURL, Valid: md.Period{From: md.NewTime(from), Until: md.NewTime(until)}}
	if !at.IsZero() {
		cs.RevokedAt = md.NewTime(at)
	}
	return cs, nil
}

func (r *Runner) loadCRL(ctx context.Context, c *http.Client, group string, t *Target) (*x509.RevocationList, error) {
	now := r.now()
	file := CRLCacheFile(t.crlURL)
	if data, err := r.Store.Read(ctx, store.GroupOCSP, group, file); err == nil && !r.Force {
		if crl, err := ParseCRL(data, t.issuer, now); err == nil && checkScope(crl, t.crlURL) == nil {
			from, until := crlValid(crl)
			if win, err := md.ParseTimeslice(md.DefaultStaplingRenewWindow, md.Day); err == nil && now.Before(RenewAt(from, until, win)) {
				r.logf("debug", "%s: using the cached CRL %s", group, t.crlURL)
				return crl, nil
			}
		}
	}
	r.logf("debug", "%s: downloading CRL %s", group, t.crlURL)
	data, err := getCRL(ctx, c, t.crlURL)
	if err != nil {
		return nil, err
	}
	crl, err := ParseCRL(data, t.issuer, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.crlURL, err)
	}
	if err := checkScope(crl, t.crlURL); err != nil {
		return nil, err
	}
	if err := r.Store.Write(ctx, store.GroupOCSP, group, file, crl.Raw); err != nil {
		return nil, err
	}
	return crl, nil
}

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
			s.job, s.certs = &md.Job{Name: s.Group}, map[string]certState{}
		}
	}
	var renewed, errored bool
	var lastDetail, lastActivity string
	var lastErr error
	if len(s.due) > 0 {
		s.job.AddLog(now, "starting", "", "")
	}
	for _, w := range s.due {
		e, t := w.entry, w.t
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
		if errors.As(w.err, &skip) {
			// Not the responder's fault and not fixed by retrying soon:
			// look again in a day, without error events.
			s.certs[t.ID] = certState{Spec: t.Spec, Errors: 1, NextRun: md.NewTime(now.Add(skipRecheck)), LastError: w.err.Error()}
			e.Action, e.Status, e.Source, e.Detail = "skipped", StatusNone, "", w.err.Error()
			e.NextRun = md.NewTime(now.Add(skipRecheck))
			if w.stored != nil {
				e.Status = w.stored.Status
			}
			if s.checkOnly && errors.Is(w.err, errNoRevocationSource) {
				// nothing to staple and nothing to check: not worth a
				// warning where nobody asked for stapling
				r.logf("info", "%s: certificate %s (%s): %v", s.Group, t.ID, specLabel(t), w.err)
				continue
			}
			warn(r, rec, fmt.Sprintf("certificate %s (%s): %v", t.ID, specLabel(t), w.err))
			continue
		}
		if w.err != nil {
			errored = true
			lastErr = w.err
			cs := s.certs[t.ID]
			cs.Spec = t.Spec
			cs.Errors++
			cs.NextRun = md.NewTime(now.Add(Backoff(s.delay, cs.Errors, r.jitter())))
			cs.LastError = w.err.Error()
			s.certs[t.ID] = cs
			e.Action, e.Detail = "failed", w.err.Error()
			e.Errors, e.NextRun = cs.Errors, cs.NextRun
			lastActivity, lastDetail = activity, w.err.Error()
			s.job.AddLog(now, "ocsp-error", "", activity+": "+w.err.Error())
			kept := "; the last good response is kept"
			if w.stored == nil {
				kept = "; there is no response to staple yet"
			}
			if s.checkOnly {
				warn(r, rec, fmt.Sprintf("certificate %s (%s): revocation check failed: %v (stapling is off: nothing is served from it)", t.ID, specLabel(t), w.err))
				continue
			}
			failRecord(rec, fmt.Errorf("certificate %s (%s): %w%s", t.ID, specLabel(t), w.err, kept))
			if w.stored != nil && t.Deploy != "" {
				if der, err := w.stored.DER(); err == nil {
					if _, err := writeDeploy(t.Deploy, der, t.Mode); err == nil {
						e.File = t.Deploy
					}
				}
			}
			continue
		}
		renewed = true
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
		e.RenewAt = md.NewTime(RenewAt(e.Valid.From.Time, e.Valid.Until.Time, s.window))
		lastActivity = activity
		lastDetail = fmt.Sprintf("certificate status is %s, status valid %s", strings.ToUpper(status), formatPeriod(from, until))
		s.job.AddLog(now, "progress", "", activity+": "+lastDetail)
		r.logf("info", "%s: certid %s (%s): %s", s.Group, t.ID, specLabel(t), lastDetail)
		if status == StatusRevoked {
			warn(r, rec, fmt.Sprintf("certificate %s (%s) is REVOKED; md-order will renew it", t.ID, specLabel(t)))
		}
	}
	for i := range s.entries {
		e := &s.entries[i]
		if e.Source == "crl" && (rec.MustStaple || s.mustStaple(e.ID)) {
			warn(r, rec, fmt.Sprintf("certificate %s (%s) requires stapling (must-staple) but its CA runs no OCSP responder: TLS clients will reject it; turn MDMustStaple off and renew",
				e.ID, orDefault(e.Spec, e.Cert)))
		}
	}
	if len(s.due) > 0 {
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
		s.job.Last = &md.JobResult{Activity: lastActivity, Detail: lastDetail}
		if lastErr != nil && errored {
			s.job.Last.Status = 22
			if errors.Is(lastErr, ErrStatusUnknown) {
				s.job.Last.Status = 2
			}
		}
		setJobCerts(s.job, s.certs)
		if renewed && !s.checkOnly {
			r.raise(ctx, s, "ocsp-renewed", now)
		}
		if errored && !s.checkOnly {
			r.raise(ctx, s, "ocsp-errored", now)
		}
		if err := r.Store.SaveJob(ctx, store.GroupOCSP, s.Group, s.job); err != nil {
			failRecord(rec, err)
		}
	}
	if len(s.due) > 0 {
		// Only where something changed: a new certificate (new id) is
		// always due, so that is when old files start to age out. A run
		// with nothing due does not even list the directory.
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
}

const checkOnlyDetail = "stapling is off: checked for revocation only, not deployed"

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
			if _, err := writeDeploy(t.Deploy, w.resp.DER, t.Mode); err != nil {
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

func (r *Runner) jitter() byte {
	if r.Jitter != nil {
		return r.Jitter()
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	return b[0]
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

// warn adds a warning to the record (once) and logs it.
func warn(r *Runner, rec *md.Record, msg string) {
	for _, w := range rec.Staple.Warnings {
		if w == msg {
			return
		}
	}
	rec.Staple.Warnings = append(rec.Staple.Warnings, msg)
	r.logf("warn", "%s: %s", rec.Name, msg)
}

// failRecord records a staple failure, keeping an earlier stage's error
// and joining several of ours.
func failRecord(rec *md.Record, err error) {
	if rec.Error == nil {
		rec.Fail("staple", err)
		return
	}
	if rec.Error.Stage == "staple" && !strings.Contains(rec.Error.Detail, err.Error()) {
		rec.Error.Detail += "; " + err.Error()
	}
}
