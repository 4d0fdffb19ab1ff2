// Package acmeflow drives an ACME CA for md-order: it decides with
// lib/renew whether an MD needs new certificates, picks or registers the
// account (mod_md's naming and matching rules, EAB), orders one certificate
// per key spec (profiles, ARI "replaces"), answers the challenges through
// lib/challenge, finalizes, fetches and verifies the chain, and writes the
// result into the store's staging area exactly as mod_md does. It never
// writes domains/: md-install activates what is staged.
//
// Work on one MD is resumable: order.json and the new keys are written
// before each network step, so a run killed at any point is picked up by
// the next one. A failed attempt is recorded in the MD's job.json (errors,
// backoff, the ACME problem) and its partial results are removed.
package acmeflow

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Notifier raises mod_md's events (lib/event.Notifier satisfies it).
type Notifier interface {
	Raise(ctx context.Context, job *md.Job, reason, name string, now time.Time) error
}

// Order actions, in md.OrderResult.Action.
const (
	ActionNone    = "none"
	ActionOrdered = "ordered"
	ActionResumed = "resumed"
	ActionStaged  = "staged"
	ActionDryRun  = "dry-run"
	ActionVetoed  = "vetoed"
	ActionFailed  = "failed"
	ActionLocked  = "locked"
	// ActionInProgress: another node of a shared store holds the MD's
	// lock: it is working on it, this run leaves it alone (no exit 3).
	ActionInProgress = "in-progress"
	ActionBackoff    = "backoff"
)

// Runner orders certificates for records. Set the exported fields, then
// call Process for each record, concurrently if wanted: clients, CA
// directories and accounts are shared between the MDs of one run.
type Runner struct {
	Store      *store.Store
	Challenges challenge.Responder
	// Candidates lists the challenge types for a record (default
	// challenge.Candidates).
	Candidates func(*md.Record) ([]string, error)
	// Events returns the notifier for a record's settings (nil: none).
	Events func(*md.Record) Notifier
	Log    logger.Logger
	// Now and Rand are the clock and randomness (defaults time.Now and
	// crypto/rand); tests inject them.
	Now  func() time.Time
	Rand io.Reader
	// CAFiles are extra PEM root files trusted for every CA (--ca-file).
	CAFiles []string
	Force   bool
	DryRun  bool
	// LockWait bounds the wait for another run's lock on an MD.
	LockWait time.Duration
	// Timeout bounds the work on one MD (default 5 minutes).
	Timeout time.Duration
	// AccountKey is the key type of the accounts this run registers
	// (ParseAccountKey); zero: RSA, which mod_md reads. Accounts already
	// stored are used with the key they have.
	AccountKey md.KeySpec
	UserAgent  string
	// Jobs bounds the MDs Process works on at once (md-order -j), and
	// ARIJobs the renewalInfo answers waited for at once: an MD waiting
	// for one gives its place to another meanwhile (see aside). A pool of
	// Workers() goroutines calling Process keeps both busy. Jobs 0: no
	// bound (callers that run Process one record at a time).
	Jobs, ARIJobs int

	slotsOnce sync.Once
	work, ari chan struct{} // semaphores of Jobs and ARIJobs places

	mu     sync.Mutex
	cas    map[string]*caEntry
	accts  map[string]*acctEntry
	stored accountCache       // stored accounts read in this run
	until  memo.Notes[string] // see rememberUntil
	// alike is the Log that counts warnings alike for many MDs (log, Done)
	alikeOnce sync.Once
	alike     *logger.Alike
}

// caEntry is one CA as reached through one HTTP configuration.
type caEntry struct {
	mu  sync.Mutex
	hc  *http.Client
	dir *Directory
	// the last failed directory fetch and until when it answers for the
	// CA (dirRetry)
	dirErr   error
	dirUntil time.Time
	// until when (Unix ns) renewalInfo is not asked (fetchARI), and the
	// latest Retry-After (Unix ns) it answered with while down
	ariUntil, ariAgain atomic.Int64
	// the earliest moment of the next renewalInfo request (ariPace)
	ariMu   sync.Mutex
	ariNext time.Time
}

// dirRetry is how long a directory that could not be fetched is not asked
// again in a run: its MDs fail at once, as after their own try (a CA that
// is down cost a run over 100,000 MDs one refused connection, or one
// timeout, per MD).
const dirRetry = time.Minute

// acctEntry is one account on one CA, shared by the MDs of a run.
type acctEntry struct {
	mu   sync.Mutex
	acct *Account
	sig  *signer
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) randByte() byte {
	var b [1]byte
	src := r.Rand
	if src == nil {
		src = rand.Reader
	}
	if _, err := io.ReadFull(src, b[:]); err != nil {
		return 128
	}
	return b[0]
}

func (r *Runner) ua() string {
	if r.UserAgent != "" {
		return r.UserAgent
	}
	return "mdtools-md-order"
}

func (r *Runner) log() logger.Logger {
	r.alikeOnce.Do(func() { r.alike = &logger.Alike{Log: logger.Or(r.Log)} })
	return r.alike
}

// Done logs, for each warning shown for three MDs, how many more had it
// (logger.Alike: a CA that is down for a run over 100,000 MDs must not
// print 100,000 lines). md-order calls it once the records are written.
func (r *Runner) Done() {
	r.log()
	r.alike.Done()
}

type nopNotifier struct{}

func (nopNotifier) Raise(context.Context, *md.Job, string, string, time.Time) error { return nil }

func (r *Runner) notifier(rec *md.Record) Notifier {
	if r.Events == nil {
		return nopNotifier{}
	}
	if n := r.Events(rec); n != nil {
		return n
	}
	return nopNotifier{}
}

// Process decides and, when due, orders the certificates of one record. It
// sets rec.Order, and rec.Error when the attempt failed. It returns an
// error wrapping store.ErrLocked when another run holds the MD's lock;
// every other outcome is in the record.
func (r *Runner) Process(ctx context.Context, rec *md.Record) error {
	if r.passOn(rec) {
		return nil
	}
	if !r.DryRun {
		unlock, err := r.lockMD(ctx, rec)
		if unlock == nil {
			return err
		}
		defer unlock()
	}
	// The place is taken after the lock: an MD waiting aside holds its
	// lock, and a worker with a place must not wait for that lock (a
	// record given twice) while the MD waits for a place.
	leave := r.enter()
	defer leave()
	now := r.now()
	dc := r.decide(ctx, rec, now)
	switch dc.d.Action {
	case renew.Staged:
		r.reportStaged(ctx, rec, dc, now)
		return nil
	case renew.None:
		if !r.DryRun {
			r.warnExpiring(ctx, rec, dc.live, dc.job, now)
		}
		r.stillFailing(rec, dc.job, dc.live, now)
		return nil
	}
	return r.startOrder(ctx, rec, dc, now)
}

// Workers is how many goroutines should call Process at once: Jobs
// working and ARIJobs waiting for a renewalInfo answer.
func (r *Runner) Workers() int {
	if r.Jobs <= 0 {
		return 1
	}
	return r.Jobs + max(r.ARIJobs, 0)
}

func (r *Runner) slots() {
	r.slotsOnce.Do(func() {
		if r.Jobs > 0 {
			r.work = make(chan struct{}, r.Jobs)
			r.ari = make(chan struct{}, max(r.ARIJobs, 1))
		}
	})
}

// enter takes one of the Jobs places; leave gives it back. Waiting needs
// no context: every holder gives its place back when its MD is done, and
// its work ends with the run's context.
func (r *Runner) enter() (leave func()) {
	r.slots()
	if r.work == nil {
		return func() {}
	}
	r.work <- struct{}{}
	return func() { <-r.work }
}

// aside runs wait, a request whose answer is waited for without using
// the CPU (a renewalInfo GET: an hourly run over 100,000 MDs makes about
// 17,000, each a round trip to the CA), outside the caller's place in
// Process (only Process's own calls may use it: it gives back the
// place the caller holds): among at most ARIJobs such waits, while Jobs
// other MDs work.
// Holding the place, -j 8 over a 100 ms round trip asked about 67 a
// second (cmd/md-order BenchmarkARIPoll).
func (r *Runner) aside(wait func()) {
	r.slots()
	if r.work == nil {
		wait()
		return
	}
	<-r.work
	r.ari <- struct{}{}
	defer func() { r.work <- struct{}{} }()
	defer func() { <-r.ari }()
	wait()
}

// passOn handles a record md-order does not work on: it failed in an
// earlier stage, or no vhost uses it (renew mode auto); true when it did.
func (r *Runner) passOn(rec *md.Record) bool {
	if rec.Error != nil {
		// An earlier stage failed for this record: pass it on untouched.
		rec.Order = &md.OrderResult{Action: ActionNone, Reason: "not processed: the record failed in stage " + rec.Error.Stage, At: md.NewTime(r.now())}
		return true
	}
	if rec.Watched != nil && !*rec.Watched && !r.Force {
		// mod_md drives an auto MD only when a vhost uses it (spec §3.3).
		rec.Order = &md.OrderResult{Action: ActionNone, At: md.NewTime(r.now()),
			Reason: "no VirtualHost uses this MD: not renewed in renew mode auto (add a vhost, MDRenewMode always, or --force)"}
		return true
	}
	return false
}

// lockMD takes the MD's lock; with a nil unlock the record says why not,
// and the error (store.ErrLocked: another run holds it) is Process's.
func (r *Runner) lockMD(ctx context.Context, rec *md.Record) (unlock func(), err error) {
	unlock, err = r.Store.Lock(ctx, rec.Name, r.LockWait)
	if err == nil {
		return unlock, nil
	}
	if node := store.Elsewhere(err); node != "" {
		rec.Order = &md.OrderResult{Action: ActionInProgress, Reason: "in progress on another node: " + node, At: md.NewTime(r.now())}
		return nil, nil
	}
	if errors.Is(err, store.ErrLocked) {
		rec.Order = &md.OrderResult{Action: ActionLocked, Reason: "another run is working on this MD", At: md.NewTime(r.now())}
		return nil, err
	}
	rec.Order = &md.OrderResult{Action: ActionFailed, At: md.NewTime(r.now())}
	rec.Fail("order", fmt.Errorf("locking %s: %w", rec.Name, err))
	return nil, nil
}

// decision is what Process decided for a record, with what it read.
type decision struct {
	specs md.KeySpecs
	live  []renew.Cert
	job   *md.Job
	d     renew.Decision
}

// decide reads the MD's live certificates, job, staged set and
// revocation state, decides with renew.Decide (asking ARI only when the
// renew window alone says nothing is due), and sets rec.Order.
func (r *Runner) decide(ctx context.Context, rec *md.Record, now time.Time) *decision {
	name := rec.Name
	specs := rec.PrivKey.Effective()
	live := r.liveCerts(ctx, name, specs)
	job, err := r.Store.LoadJob(ctx, store.GroupStaging, name)
	if err != nil {
		r.log().Warnf("%s: %v; starting a new job", name, err)
		job = &md.Job{Name: name}
	}
	staged := r.stagedComplete(ctx, &rec.MD, specs, job)
	revoked, err := ocspfile.HasRevoked(ctx, r.Store, name, liveLeaves(live))
	if err != nil {
		r.log().Warnf("%s: reading revocation status: %v", name, err)
	}
	revs := r.revocations(ctx, name)
	r.notifyRevoked(ctx, rec, job, revs, live, now)
	in := renew.Input{Now: now, MD: &rec.MD, Certs: live, Job: job, Staged: staged, Force: r.Force, Revoked: revoked, Revocations: revs, Rand: r.randByte()}
	d := renew.Decide(in)
	var ariNext time.Time
	if d.Action == renew.None && !r.Force && r.ariApplies(rec, live) {
		var w *renew.Window
		if w, ariNext = r.ariWindow(ctx, rec, live, now); w != nil {
			in.ARI = w
			in.Rand = renew.ARIByte(rec.Name, w)
			d = renew.Decide(in)
		}
	}
	r.rememberUntil(rec, d, live, ariNext, now)
	res := &md.OrderResult{Action: d.Action, Reason: d.Reason, At: md.NewTime(now)}
	if !d.RenewAt.IsZero() {
		res.RenewAt = md.NewTime(d.RenewAt)
	}
	rec.Order = res
	return &decision{specs: specs, live: live, job: job, d: d}
}

// reportStaged describes a finished staged set waiting for md-install and
// raises its "renewed" event if that is still due.
func (r *Runner) reportStaged(ctx context.Context, rec *md.Record, dc *decision, now time.Time) {
	res := rec.Order
	res.Action = ActionStaged
	res.Certs = r.stagedInfos(ctx, rec.Name, dc.specs)
	if st, err := r.Store.LoadMD(ctx, store.GroupStaging, rec.Name); err == nil && st.CA != nil {
		res.CA = st.CA.URL
	}
	if !r.DryRun {
		r.notifyLate(ctx, rec, dc.job, now)
	}
}

// startOrder is the way to a new order: the must-staple warning, the
// challenge types (an MD with none fails here, without an order at the
// CA), the dry-run answer, the listeners, then renew.
func (r *Runner) startOrder(ctx context.Context, rec *md.Record, dc *decision, now time.Time) error {
	res, job, name := rec.Order, dc.job, rec.Name
	urls := rec.EffectiveCAURLs()
	if len(urls) > 0 {
		if w := r.mustStapleWarning(ctx, rec, urls[renew.FailoverIndex(len(urls), job.Errors, failover(rec))]); w != "" {
			res.Warnings = append(res.Warnings, w)
			r.log().Warnf("%s: %s", name, w)
		}
	}
	types, cerr := r.challengeTypes(rec)
	if r.DryRun {
		res.Action = ActionDryRun
		res.Reason = "would order: " + dc.d.Reason
		res.CA = urls[renew.FailoverIndex(len(urls), job.Errors, failover(rec))]
		if cerr != nil {
			res.Reason = "would order (" + dc.d.Reason + "), but fails before the order: see the error"
			rec.Fail("order", StageError(cerr, now))
		}
		return nil
	}
	if cerr == nil {
		cerr = r.prepareChallenges(rec, types)
		if errors.Is(cerr, store.ErrLocked) {
			res.Action, res.Reason = ActionLocked, cerr.Error()
			return cerr
		}
	}
	if cerr != nil {
		a := &attempt{r: r, rec: rec, name: name, job: job, now: now, live: dc.live}
		a.fail(ctx, cerr)
		return nil
	}
	r.renew(ctx, rec, job, dc.live, dc.d, now, types)
	return nil
}

// challengeTypes are the challenge types to try for rec (Candidates, else
// the responder's own Candidates, which count md-order's listeners, else
// challenge.Candidates), or the problem why there are none. An MD with a
// wildcard name needs dns-01: CAs offer nothing else for wildcards.
func (r *Runner) challengeTypes(rec *md.Record) ([]string, error) {
	cands := r.Candidates
	if cands == nil {
		if c, ok := r.Challenges.(interface {
			Candidates(*md.Record) ([]string, error)
		}); ok {
			cands = c.Candidates
		} else {
			cands = challenge.Candidates
		}
	}
	types, err := cands(rec)
	if err != nil {
		var se *md.StageError
		if errors.As(err, &se) && se.Problem == "" {
			return nil, &Problem{Type: ProblemChallengeMismatch, Detail: se.Detail +
				" md-order answers http-01 itself with --http-listen and tls-alpn-01 with --tls-listen (md.toml: http-listen, tls-listen, webroot; dns-01: MDChallengeDns01 / challenge-dns01)."}
		}
		return nil, err
	}
	for _, d := range rec.Domains {
		if md.IsWildcard(d) && !slices.ContainsFunc(types, func(t string) bool {
			return strings.EqualFold(t, challenge.DNS01) || strings.EqualFold(t, challenge.DNSPersist01)
		}) {
			return nil, &Problem{Type: ProblemChallengeMismatch, Detail: fmt.Sprintf(
				"%s is a wildcard name, which CAs validate only with dns-01, and dns-01 is not available for %s (available: '%s'; configure MDChallengeDns01 / challenge-dns01)",
				d, rec.Name, strings.Join(types, " "))}
		}
	}
	if se := challenge.CheckIPTypes(rec, types); se != nil {
		return nil, &Problem{Type: ProblemChallengeMismatch, Detail: se.Detail}
	}
	return types, nil
}

// prepareChallenges starts the listeners the challenge types need before
// anything is ordered (a port that cannot be bound fails the MD without an
// order at the CA); an error wrapping store.ErrLocked means another run of
// this store listens there.
func (r *Runner) prepareChallenges(rec *md.Record, types []string) error {
	p, ok := r.Challenges.(interface {
		Prepare(*md.Record, []string) error
	})
	if !ok {
		return nil
	}
	if err := p.Prepare(rec, types); err != nil {
		if errors.Is(err, store.ErrLocked) {
			return err
		}
		return &Problem{Type: ProblemChallengeSetupFailure, Detail: fmt.Sprintf("cannot answer challenges for %s: %v", rec.Name, err)}
	}
	return nil
}

// stillFailing marks an MD that nothing is done for in this run but that
// is not fine, so that no run looks good while it lasts: its last attempt
// failed and the retry waits for the backoff (the record gets the last
// error again, action "backoff"), or it has no valid certificate at all.
// Neither contacts the CA.
func (r *Runner) stillFailing(rec *md.Record, job *md.Job, live []renew.Cert, now time.Time) {
	res := rec.Order
	if job.Errors > 0 && job.Last != nil && job.Last.Status != 0 && now.Before(job.NextRun.Time) {
		res.Action = ActionBackoff
		res.Errors, res.FailingSince, res.NextRun = job.Errors, failingSince(job), job.NextRun
		res.Reason = fmt.Sprintf("%d failed attempts since %s; next attempt not before %s (no request to the CA before)",
			job.Errors, res.FailingSince.UTC().Format(http.TimeFormat), job.NextRun.UTC().Format(http.TimeFormat))
		detail := job.Last.Detail
		if detail == "" {
			detail = "the last renewal attempt failed (" + job.Last.StatusDescription + ")"
		}
		rec.Error = &md.StageError{Stage: "order", Problem: job.Last.Problem, Detail: detail, Subproblems: job.Last.Subproblems}
		return
	}
	if len(rec.CertFiles) > 0 {
		return // static files: not ours to judge here (md-install checks them)
	}
	for _, c := range live {
		switch {
		case c.Leaf == nil:
			rec.Fail("order", fmt.Errorf("no %s certificate in the store, and md-order does not order one: %s", c.Spec.Name(), res.Reason))
			return
		case now.After(c.Leaf.NotAfter):
			rec.Fail("order", fmt.Errorf("the %s certificate expired on %s, and md-order does not renew it: %s",
				c.Spec.Name(), c.Leaf.NotAfter.UTC().Format(http.TimeFormat), res.Reason))
			return
		}
	}
}

// failingSince is when the current run of failed attempts began: the
// oldest renewal error in the job log after the last success.
func failingSince(job *md.Job) md.Time {
	var since md.Time
	for _, e := range job.Log.Entries { // newest first
		if e.Type == "finished" {
			break
		}
		if e.Type == "renewal-error" {
			since = e.When
		}
	}
	if since.IsZero() {
		since = job.LastRun
	}
	return since
}

func failover(rec *md.Record) int {
	if rec.Settings != nil && rec.Settings.RetryFailover > 0 {
		return rec.Settings.RetryFailover
	}
	return md.DefaultRetryFailover
}

func retryDelay(rec *md.Record) time.Duration {
	if rec.Settings != nil && rec.Settings.RetryDelay != "" {
		if d, err := md.ParseDuration(rec.Settings.RetryDelay, time.Second); err == nil && d > 0 {
			return d
		}
	}
	d, _ := md.ParseDuration(md.DefaultRetryDelay, time.Second)
	return d
}

func activationDelay(rec *md.Record) time.Duration {
	if rec.Settings != nil && rec.Settings.ActivationDelay != "" {
		if d, err := md.ParseDuration(rec.Settings.ActivationDelay, md.Day); err == nil {
			return d
		}
	}
	return 0
}

// liveCerts loads domains/<md>/pubcert*.pem per key spec (nil: missing or
// unreadable).
func (r *Runner) liveCerts(ctx context.Context, name string, specs md.KeySpecs) []renew.Cert {
	out := make([]renew.Cert, len(specs))
	for i, s := range specs {
		out[i].Spec = s
		chain, err := r.Store.LoadChain(ctx, store.GroupDomains, name, s.FileName("pubcert"))
		if err == nil {
			out[i].Leaf = chain[0]
		} else if !errors.Is(err, errNotExist) {
			r.log().Warnf("%s: %v", name, err)
		}
		if out[i].Leaf != nil {
			fits, err := r.Store.KeyFits(ctx, store.GroupDomains, name, s.FileName("privkey"), out[i].Leaf)
			if err == nil && !fits {
				out[i].KeyMismatch = true
				r.log().Warnf("%s: domains/%s/%s does not match its private key %s (%s); renewing", name, name, s.FileName("pubcert"), s.FileName("privkey"), renew.ProblemKeyMismatch)
			}
		}
	}
	return out
}

// liveLeaves are the live certificates liveCerts read, for
// ocspfile.HasRevoked, which then does not read them again.
func liveLeaves(live []renew.Cert) ocspfile.Leaves {
	known := make(ocspfile.Leaves, len(live))
	for _, c := range live {
		if c.Leaf != nil {
			known[c.Spec.FileName("pubcert")] = c.Leaf.Raw
		}
	}
	return known
}

// stagedComplete reports whether staging/<md> holds a finished set for
// the MD as configured now: the job says finished, md.json is there and
// every key spec has its key and a certificate that covers the domains
// (mod_md's md_job_json_seems_valid, plus the state rules).
func (r *Runner) stagedComplete(ctx context.Context, m *md.MD, specs md.KeySpecs, job *md.Job) bool {
	name := m.Name
	if !job.Finished || !r.Store.Exists(ctx, store.GroupStaging, name, store.FileMD) {
		return false
	}
	certs := make([]renew.Cert, len(specs))
	for i, s := range specs {
		certs[i].Spec = s
		if !r.Store.Exists(ctx, store.GroupStaging, name, s.FileName("privkey")) {
			return false
		}
		chain, err := r.Store.LoadChain(ctx, store.GroupStaging, name, s.FileName("pubcert"))
		if err != nil {
			return false
		}
		certs[i].Leaf = chain[0]
	}
	state, _ := renew.State(m, certs)
	return state == md.StateComplete
}

func (r *Runner) stagedInfos(ctx context.Context, name string, specs md.KeySpecs) []md.CertInfo {
	var out []md.CertInfo
	for _, s := range specs {
		if chain, err := r.Store.LoadChain(ctx, store.GroupStaging, name, s.FileName("pubcert")); err == nil {
			out = append(out, renew.CertInfo(s, chain[0]))
		}
	}
	return out
}

// notifyLate raises "renewed" for a staged set whose notification is
// still due: its ready time (MDActivationDelay) was in the future, or the
// notify command failed last time.
func (r *Runner) notifyLate(ctx context.Context, rec *md.Record, job *md.Job, now time.Time) {
	if job.NotifiedRenewed || now.Before(job.ValidFrom.Time) {
		return
	}
	r.notifyRenewed(ctx, rec, job, now)
	if err := r.Store.SaveJob(ctx, store.GroupStaging, rec.Name, job); err != nil {
		r.log().Warnf("%s: saving job: %v", rec.Name, err)
	}
}

func (r *Runner) notifyRenewed(ctx context.Context, rec *md.Record, job *md.Job, now time.Time) {
	if err := r.notifier(rec).Raise(ctx, job, "renewed", rec.Name, now); err != nil {
		r.log().Warnf("%s: renewed event: %v (retried on the next run)", rec.Name, err)
		return
	}
	job.Notified, job.NotifiedRenewed = true, true
}

// warnExpiring raises mod_md's "expiring" event (rate limited to once a
// day through the job log) when the warn window (MDWarnWindow) of a live
// certificate has started and no finished renewal waits. Only with an
// MDMessageCmd: without one there is no one to tell.
func (r *Runner) warnExpiring(ctx context.Context, rec *md.Record, live []renew.Cert, job *md.Job, now time.Time) {
	if rec.Settings == nil || len(rec.Settings.MessageCmd) == 0 || !renew.ShouldWarn(now, &rec.MD, live, job.Finished) {
		return
	}
	n := len(job.Log.Entries)
	if err := r.notifier(rec).Raise(ctx, job, "expiring", rec.Name, now); err != nil {
		r.log().Warnf("%s: expiring event: %v", rec.Name, err)
	}
	if len(job.Log.Entries) != n {
		if err := r.Store.SaveJob(ctx, store.GroupStaging, rec.Name, job); err != nil {
			r.log().Warnf("%s: saving job: %v", rec.Name, err)
		}
	}
}
