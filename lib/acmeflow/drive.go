package acmeflow

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

var errNotExist = fs.ErrNotExist

// jobSaveTimeout bounds writing the job log after a run was interrupted.
const jobSaveTimeout = 30 * time.Second

// orderFile is mod_md's order.json (spec §2.5), plus the full challenge
// tasks so that teardown gets exactly what setup got.
type orderFile struct {
	URL             string           `json:"url"`
	Status          string           `json:"status,omitempty"`
	Authorizations  []string         `json:"authorizations,omitempty"`
	ChallengeSetups []string         `json:"challenge-setups,omitempty"`
	Finalize        string           `json:"finalize,omitempty"`
	Certificate     string           `json:"certificate,omitempty"`
	Spec            string           `json:"key-spec,omitempty"`
	Tasks           []challenge.Task `json:"tasks,omitempty"`
	// Intent is written before newOrder and replaced by the order once
	// the CA answers: finding it without a URL means a run died between
	// the two, leaving an order at the CA that the next run adopts.
	Intent *orderIntent `json:"mdtools-intent,omitempty"`
}

// orderIntent is an order being created.
type orderIntent struct {
	Identifiers []string `json:"identifiers"`
	At          md.Time  `json:"at"`
}

// attempt is the work on one MD in one run.
type attempt struct {
	r       *Runner
	rec     *md.Record
	name    string
	job     *md.Job
	now     time.Time
	caURL   string
	ca      *caEntry
	acct    *Account
	sig     *signer
	live    []renew.Cert
	viaARI  bool
	resumed bool
	types   []string // the challenge types to try, in order (Runner.challengeTypes)
}

func (a *attempt) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.job.AddLog(a.r.now(), "progress", "", msg)
	a.r.log().Infof("%s: %s", a.name, msg)
}

// saveJob writes the job log even when ctx was cancelled (an interrupted
// or timed-out run must still record what happened), bounded by its own
// timeout.
func (a *attempt) saveJob(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobSaveTimeout)
	defer cancel()
	if err := a.r.Store.SaveJob(ctx, store.GroupStaging, a.name, a.job); err != nil {
		a.r.log().Warnf("%s: saving job: %v", a.name, err)
	}
}

// renew runs the renewal of one MD and records the outcome.
func (r *Runner) renew(ctx context.Context, rec *md.Record, job *md.Job, live []renew.Cert, d renew.Decision, now time.Time, types []string) {
	name := rec.Name
	res := rec.Order
	if err := r.notifier(rec).Raise(ctx, job, "renewing", name, now); err != nil && !isCommandFailure(err) {
		r.log().Warnf("%s: renewing event: %v", name, err)
	} else if err != nil {
		res.Action, res.Reason = ActionVetoed, "the renewing event command vetoed this run: "+err.Error()
		if err := r.Store.SaveJob(ctx, store.GroupStaging, name, job); err != nil {
			r.log().Warnf("%s: saving job: %v", name, err)
		}
		return
	}
	a := &attempt{r: r, rec: rec, name: name, job: job, now: now, live: live, viaARI: d.ViaARI, types: types}
	job.AddLog(now, "starting", "", "")
	for _, c := range live {
		if c.KeyMismatch {
			job.AddLog(now, "progress", renew.ProblemKeyMismatch, fmt.Sprintf(
				"the live %s certificate of %s does not match its private key; renewing", c.Spec.Name(), name))
		}
	}
	job.Finished, job.Notified, job.NotifiedRenewed = false, false, false
	job.LastRun = md.NewTime(now)
	urls := rec.EffectiveCAURLs()
	a.caURL = urls[renew.FailoverIndex(len(urls), job.Errors, failover(rec))]
	if d.ViaARI {
		a.progress("%s", d.Reason)
	}
	// Temp files a killed run left in its staging set (this run holds the
	// MD lock, so no live writer owns them).
	if n, err := r.Store.SweepTemp(ctx, store.GroupStaging, name); err != nil {
		r.log().Warnf("%s: sweeping staging temp files: %v", name, err)
	} else if n > 0 {
		a.progress("Removed %d temp file(s) a killed run left in staging/%s", n, name)
	}
	a.checkStaging(ctx, urls)
	a.saveJob(ctx)

	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	chains, err := a.drive(cctx)
	// Cleanup (teardown, events, the job) runs even when ctx was cancelled.
	cleanup, cancelCleanup := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancelCleanup()
	switch {
	case err != nil && ctx.Err() != nil:
		// Interrupted (SIGINT/SIGTERM): not the CA's fault. Like a kill,
		// the staged order stays for the next run to resume.
		a.progress("Interrupted: %v", ctx.Err())
		a.saveJob(ctx)
		res.Action, res.Reason = ActionFailed, "interrupted; the next run resumes the staged order"
		rec.Fail("order", fmt.Errorf("interrupted: %w", ctx.Err()))
	case err != nil:
		if cctx.Err() != nil {
			err = fmt.Errorf("%w (no answer from the CA within %s)", err, timeout)
		}
		a.fail(cleanup, err)
	default:
		a.finish(cleanup, chains)
	}
}

// isCommandFailure tells an event command's failure (a veto) from an
// event that could not be raised at all (logged, not a veto).
func isCommandFailure(err error) bool {
	var se *md.StageError
	return err != nil && errors.As(err, &se)
}

// checkStaging resets a staged attempt made for another CA or CA list
// (mod_md's acme_renew rule) or left half-done by a forced run.
func (a *attempt) checkStaging(ctx context.Context, urls []string) {
	st := a.r.Store
	sm, err := st.LoadMD(ctx, store.GroupStaging, a.name)
	if err != nil {
		if !errors.Is(err, errNotExist) {
			a.progress("Resetting staging for %s: %v", a.name, err)
			a.purgeStaging(context.Background(), false)
		}
		return
	}
	reset := sm.CA == nil || sm.CA.URL != a.caURL || strings.Join(sm.CA.URLs, " ") != strings.Join(urls, " ") ||
		strings.Join(sm.Domains, " ") != strings.Join(a.rec.Domains, " ")
	if !reset && a.r.Force && a.job.Errors == 0 && a.r.stagedCompleteFiles(ctx, a.name, a.rec.PrivKey.Effective()) {
		reset = true // --force on a finished set: order anew
	}
	if reset {
		a.progress("Resetting staging for %s", a.name)
		a.purgeStaging(context.Background(), true)
	} else {
		a.resumed = true
	}
}

func (r *Runner) stagedCompleteFiles(ctx context.Context, name string, specs md.KeySpecs) bool {
	for _, s := range specs {
		if !r.Store.Exists(ctx, store.GroupStaging, name, s.FileName("pubcert")) {
			return false
		}
	}
	return true
}

// purgeStaging tears down an order in flight and removes staged files,
// keeping job.json (the job log and backoff) and a staged account (a
// registered account is worth keeping).
func (a *attempt) purgeStaging(ctx context.Context, keepAccount bool) {
	st := a.r.Store
	var of orderFile
	if err := st.LoadJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &of); err == nil {
		a.teardown(ctx, of.Tasks)
	}
	files, err := st.ListFiles(ctx, store.GroupStaging, a.name)
	if err != nil {
		return
	}
	for _, f := range files {
		if f == store.FileJob || keepAccount && (f == store.FileAccount || f == store.FileAccountKey) {
			continue
		}
		if err := st.Remove(ctx, store.GroupStaging, a.name, f); err != nil {
			a.r.log().Warnf("%s: removing staging/%s/%s: %v", a.name, a.name, f, err)
		}
	}
}

func (a *attempt) teardown(ctx context.Context, tasks []challenge.Task) {
	if a.r.Challenges == nil {
		return
	}
	for _, t := range tasks {
		if err := a.r.Challenges.Teardown(ctx, a.rec, t); err != nil {
			a.r.log().Warnf("%s: tearing down %s for %s: %v", a.name, t.Type, t.Domain, err)
		}
	}
}

// drive talks to the CA: account, then one order per key spec.
func (a *attempt) drive(ctx context.Context) ([]([]*x509.Certificate), error) {
	if p := a.rec.IPProfileProblem(a.caURL); p != "" {
		return nil, &Problem{Type: ProblemInvalidProfile, Detail: p} // before any request to the CA
	}
	a.progress("Contacting ACME server for %s at %s", a.name, a.caURL)
	if err := a.connect(ctx); err != nil {
		return nil, err
	}
	if err := a.stageMD(ctx); err != nil {
		return nil, err
	}
	specs := a.rec.PrivKey.Effective()
	chains := make([][]*x509.Certificate, len(specs))
	for i, spec := range specs {
		if chain := a.stagedChain(ctx, spec); chain != nil {
			chains[i] = chain
			continue
		}
		a.progress("Driving ACME to renew %s certificate for %s", spec.Name(), a.name)
		chain, err := a.orderSpec(ctx, spec, a.live[i].Leaf)
		if err != nil {
			return nil, fmt.Errorf("%s certificate: %w", spec.Name(), err)
		}
		chains[i] = chain
	}
	return chains, nil
}

// stagedChain returns a certificate staged by an earlier, interrupted run
// when it still verifies against its staged key.
func (a *attempt) stagedChain(ctx context.Context, spec md.KeySpec) []*x509.Certificate {
	st := a.r.Store
	chain, err := st.LoadChain(ctx, store.GroupStaging, a.name, spec.FileName("pubcert"))
	if err != nil {
		return nil
	}
	key, err := st.LoadKey(ctx, store.GroupStaging, a.name, spec.FileName("privkey"))
	if err != nil {
		return nil
	}
	if err := Verify(chain, key, a.rec.Domains, a.rec.MustStaple, a.r.now()); err != nil {
		return nil
	}
	a.resumed = true
	return chain
}

// stageMD writes staging/<md>/md.json: the MD with the effective CA.
func (a *attempt) stageMD(ctx context.Context) error {
	m := a.rec.MD
	ca := md.CA{}
	if m.CA != nil {
		ca = *m.CA
	}
	ca.URL = a.caURL
	if len(ca.URLs) == 0 {
		ca.URLs = a.rec.EffectiveCAURLs()
	}
	if ca.Proto == "" {
		ca.Proto = md.ProtoACME
	}
	ca.Account = a.acct.ID
	m.CA = &ca
	if err := a.r.Store.SaveMD(ctx, store.GroupStaging, &m); err != nil {
		return fmt.Errorf("staging md.json: %w", err)
	}
	if a.acct.ID == "" {
		if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileAccount, &a.acct.File); err != nil {
			return err
		}
		key, err := a.acct.stagedKey(a.r.Store)
		if err != nil {
			return err
		}
		if err := a.r.Store.Write(ctx, store.GroupStaging, a.name, store.FileAccountKey, key); err != nil {
			return err
		}
	}
	return nil
}

// finish records success: the staged set is complete.
func (a *attempt) finish(ctx context.Context, chains [][]*x509.Certificate) {
	now := a.r.now()
	specs := a.rec.PrivKey.Effective()
	res := a.rec.Order
	res.CA = a.caURL
	res.Action = ActionOrdered
	if a.resumed {
		res.Action = ActionResumed
	}
	var nb time.Time
	res.Certs = nil
	for i, c := range chains {
		res.Certs = append(res.Certs, renew.CertInfo(specs[i], c[0]))
		if c[0].NotBefore.After(nb) {
			nb = c[0].NotBefore
		}
	}
	wasComplete, _ := renew.State(&a.rec.MD, a.live)
	var oldEnd time.Time
	for _, l := range a.live {
		if l.Leaf != nil && (oldEnd.IsZero() || l.Leaf.NotAfter.Before(oldEnd)) {
			oldEnd = l.Leaf.NotAfter
		}
	}
	ready := renew.ReadyAt(now, nb, wasComplete == md.StateComplete, oldEnd, activationDelay(a.rec))
	j := a.job
	j.Finished = true
	j.Errors = 0
	j.ValidFrom = md.NewTime(ready)
	j.Last = &md.JobResult{Status: 0, ValidFrom: md.NewTime(ready)}
	j.NextRun = md.Time{}
	if ready.After(now) {
		j.NextRun = md.NewTime(ready)
		a.progress("The certificate for the managed domain has been renewed successfully and can be used from %s on.", ready.UTC().Format(http.TimeFormat))
	} else {
		a.progress("The certificate for the managed domain has been renewed successfully and can be used (valid since %s). A graceful server restart now is recommended.", nb.UTC().Format(http.TimeFormat))
	}
	j.AddLog(now, "finished", "", "")
	res.Reason += "; new certificates staged for md-install"
	a.r.seedARI(ctx, a.rec, chains, now)
	if !ready.After(now) {
		a.r.notifyRenewed(ctx, a.rec, j, now)
	}
	a.saveJob(ctx)
}

// fail records a failed attempt (spec §3.6): the problem in the record
// and the job, errors++, next-run by backoff, partial results removed.
func (a *attempt) fail(ctx context.Context, err error) {
	now := a.r.now()
	se := StageError(err, now)
	if capped, ok := renew.CapRetryAfter(now, se.RetryAfter.Time); ok {
		se.Detail += fmt.Sprintf(" (the CA asked to wait until %s; capped at %s, the longest wait md-order accepts)",
			se.RetryAfter.UTC().Format(http.TimeFormat), capped.UTC().Format(http.TimeFormat))
		se.RetryAfter = md.NewTime(capped)
	}
	a.purgeStaging(ctx, true)
	j := a.job
	j.Errors++
	j.Finished = false
	j.Last = &md.JobResult{Status: 1, StatusDescription: "error", Problem: se.Problem, Detail: se.Detail, Subproblems: se.Subproblems}
	next := renew.NextRun(now, retryDelay(a.rec), j.Errors, se.Problem, se.RetryAfter.Time, a.r.randByte())
	j.NextRun = md.NewTime(next)
	j.AddLog(now, "renewal-error", se.Problem, se.Detail)
	_ = a.r.notifier(a.rec).Raise(ctx, j, "errored", a.name, now)
	a.saveJob(ctx)
	res := a.rec.Order
	res.Action = ActionFailed
	res.CA = a.caURL
	res.Reason = fmt.Sprintf("attempt %d failed; next attempt not before %s", j.Errors, next.UTC().Format(http.TimeFormat))
	res.Errors, res.FailingSince, res.NextRun = j.Errors, failingSince(j), j.NextRun
	a.rec.Error = se
	a.r.log().Infof("%s: %v", a.name, err)
}
