// Package install is md-install's logic: it activates staged certificate
// sets the way mod_md does at a restart (staging -> tmp -> domains, the old
// set to archive/, a staged account to accounts/), writes what web servers
// need (Apache snippets, PEM files for nginx/HAProxy/Postfix), runs one
// reload command, and checks over TLS that the server now serves the new
// certificate. It raises the installed, expiring and errored events.
//
// Activation is crash-safe: the new set is written complete into tmp/<md>,
// made durable, and then swapped with domains/<md> in one exchange
// (store.Promote); a run killed at any point leaves the old or the new set
// live, and the next run finishes the job. A staged set that is invalid is
// rejected: the live set is not touched, the error goes into the record and
// the MD's job log, and the staged set is purged (as mod_md does) so that
// md-order orders a fresh one.
package install

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Options configure a run.
type Options struct {
	Store *store.Store
	// StoreDir is the store's directory as the web server sees it (for
	// Apache snippets); empty means the store's own path.
	StoreDir string
	// LockWait bounds the wait for an MD lock or the store lock.
	LockWait time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ApacheDir, when set, receives one snippet per MD (<md>.conf).
	ApacheDir string
	// ReloadCmd overrides the records' settings.reload-cmd.
	ReloadCmd     []string
	ReloadTimeout time.Duration
	// Verify after a reload that the new certificates are served.
	NoVerify       bool
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	// VerifyAddr is where to check MDs that name no address (host:port).
	VerifyAddr string
	Log        logger.Logger
	// Workers bounds parallel activation work (default 2×CPUs, at least 4).
	Workers int
}

// ErrLocked is returned (wrapping store.ErrLocked) when some MD could not
// be locked within the wait; the other records were processed.
var errSomeLocked = fmt.Errorf("%w: some managed domains are being changed by another run; they were skipped", store.ErrLocked)

// testHook, when set by tests, is called after each activation step.
var testHook func(step, name string)

func hook(step, name string) {
	if testHook != nil {
		testHook(step, name)
	}
}

// item is one record's work in a run.
type item struct {
	rec     *md.Record
	name    string
	specs   md.KeySpecs
	staged  bool // staging/<name> exists
	locked  bool
	unlock  func()
	live    []credential // live certificates before the run (no keys)
	liveOK  bool
	set     *staged
	action  string // none, waiting, activate, finish, rejected, failed
	reason  string
	readyAt time.Time
	tmpJob  *md.Job
	deploy  *deployPlan
	changed bool // the server should reload for this MD
	pending bool // an earlier run could not confirm the reload
	// confirmed: the reload ran (and the check passed); unconfirmed: it
	// failed or the server serves another certificate.
	confirmed, unconfirmed bool
	archive                string
	account                string
	err                    *md.StageError
}

// Run processes the records: activation, outputs, reload, verification,
// warnings. Per-record outcomes go into rec.Install and rec.Error; the
// returned error is nil, or wraps store.ErrLocked when some MD was locked
// by another run, or is a store-wide failure.
func Run(ctx context.Context, opts Options, recs []*md.Record) error {
	opts.Log = logger.Or(opts.Log)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = time.Minute
	}
	if opts.VerifyTimeout <= 0 {
		opts.VerifyTimeout = 30 * time.Second
	}
	if opts.VerifyInterval <= 0 {
		opts.VerifyInterval = 250 * time.Millisecond
	}
	if opts.StoreDir == "" && opts.ApacheDir != "" {
		ld, ok := opts.Store.Backend().(store.LocalDir)
		if !ok {
			return fmt.Errorf("writing Apache snippets: the store %s is not a local directory Apache could read; give the directory Apache serves it from (--apache-store-dir)", opts.Store)
		}
		opts.StoreDir = ld.Dir()
	}
	r := &runner{opts: opts, st: opts.Store, now: opts.Now().UTC()}
	r.dst, r.sync = opts.Store.Deferred()
	r.phase("start")
	defer r.unlockAll()
	return r.run(ctx, recs)
}

type runner struct {
	opts     Options
	st       *store.Store // synced writes
	dst      *store.Store // deferred writes, made durable by sync
	sync     func() error
	now      time.Time
	items    []*item
	accounts accountIndex
	locked   bool
	deploys  map[string]bool // deploy dirs written to, to sync
	last     time.Time       // for phase timings
	dirty    atomic.Bool     // something was written through dst
	deployer deployer
	mu       sync.Mutex
}

// phase logs how long each phase took (-vv).
func (r *runner) phase(name string) {
	now := time.Now()
	if !r.last.IsZero() {
		r.opts.Log.Debugf("phase %s: %v", name, now.Sub(r.last).Round(time.Millisecond))
	}
	r.last = now
}

func (r *runner) unlockAll() {
	for _, it := range r.items {
		if it.unlock != nil {
			it.unlock()
			it.unlock = nil
		}
	}
}

func (r *runner) run(ctx context.Context, recs []*md.Record) error {
	stagedNames, err := r.st.List(ctx, store.GroupStaging)
	if err != nil {
		return fmt.Errorf("listing staging: %w", err)
	}
	// what purges killed midway left: renamed away, nobody's, no lock needed
	for _, g := range []store.Group{store.GroupStaging, store.GroupTmp, store.GroupChallenges} {
		if _, err := r.st.SweepTrash(ctx, g); err != nil {
			r.opts.Log.Warnf("sweeping %s: %v", g, err)
		}
	}
	inStaging := make(map[string]bool, len(stagedNames))
	for _, n := range stagedNames {
		inStaging[n] = true
	}
	r.items = make([]*item, len(recs))
	seen := make(map[string]bool, len(recs))
	for i, rec := range recs {
		// a section or error from an earlier md-install run is stale
		rec.Install = nil
		if rec.Error != nil && rec.Error.Stage == "install" {
			rec.Error = nil
		}
		it := &item{rec: rec, name: rec.Name, specs: rec.PrivKey.Effective(), staged: inStaging[rec.Name], action: "none"}
		if seen[rec.Name] {
			// a second record for the same MD: the first one is handled
			it.staged = false
			it.fail("install-duplicate", fmt.Errorf("another record for %s came earlier in the input; this one is ignored", rec.Name))
		}
		seen[rec.Name] = true
		r.items[i] = it
	}

	// Lock the MDs with something staged, in name order (two runs never
	// wait for each other in a cycle).
	var toLock []*item
	for _, it := range r.items {
		if it.staged {
			toLock = append(toLock, it)
		}
	}
	sort.Slice(toLock, func(i, j int) bool { return toLock[i].name < toLock[j].name })
	for _, it := range toLock {
		if err := r.lock(ctx, it); err != nil {
			return err
		}
	}

	r.phase("locked")
	// Phase 1: check staged sets, write tmp sets and deploy sets.
	r.parallel(func(it *item) { r.prepare(ctx, it) })
	r.phase("prepared")
	if err := r.syncAll(); err != nil {
		return err
	}
	// Phase 2: under the store lock, accounts, md.json, promote.
	if err := r.promoteAll(ctx); err != nil {
		return err
	}
	r.phase("promoted")
	// Phase 3: deploy flip, purge staging, job logs and events.
	r.parallel(func(it *item) { r.finish(ctx, it) })
	r.parallel(func(it *item) { r.refreshDeploy(ctx, it) })
	if err := r.syncAll(); err != nil {
		return err
	}
	r.phase("finished")
	r.writeApache(ctx)
	pending := readPending(ctx, r.st)
	for _, it := range r.items {
		if pending[it.name] && it.liveOK {
			it.changed, it.pending = true, true
		}
	}
	r.reloadAndVerify(ctx)
	r.notePending(ctx)
	r.phase("reloaded")
	r.parallel(func(it *item) { r.warn(ctx, it) })
	r.phase("warned")
	r.unlockAll()
	if err := r.syncAll(); err != nil {
		return err
	}
	for _, it := range r.items {
		r.report(it)
	}
	if r.locked {
		return errSomeLocked
	}
	return nil
}

// lock takes the MD lock of an item; a lock held elsewhere beyond the wait
// fails only this item.
func (r *runner) lock(ctx context.Context, it *item) error {
	unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			r.locked = true
			it.action, it.reason = "failed", "locked by another run"
			it.err = &md.StageError{Stage: "install", Problem: "install-locked", Detail: err.Error()}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		it.action = "failed"
		it.err = &md.StageError{Stage: "install", Problem: ProblemStore, Detail: err.Error()}
		return nil
	}
	it.unlock, it.locked = unlock, true
	return nil
}

func (r *runner) parallel(f func(*item)) { r.parallelOver(r.items, f) }

// parallelOver runs f for each item on the run's workers.
func (r *runner) parallelOver(items []*item, f func(*item)) {
	pool.Each(len(items), r.opts.Workers, func(i int) { f(items[i]) })
}

func (r *runner) syncAll() error {
	if r.dirty.Swap(false) {
		if err := r.sync(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range r.deploys {
		if err := store.SyncFS(d); err != nil {
			return err
		}
	}
	r.deploys = nil
	return nil
}

func (r *runner) noteDeployDir(d string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deploys == nil {
		r.deploys = map[string]bool{}
	}
	r.deploys[d] = true
}

func (it *item) fail(problem string, err error) {
	if it.action != "activated" {
		it.action = "failed"
	}
	it.err = &md.StageError{Stage: "install", Problem: problem, Detail: err.Error()}
}

func (it *item) reject(err error) {
	it.action = "rejected"
	it.reason = err.Error()
	it.err = &md.StageError{Stage: "install", Problem: ProblemInvalidStaging,
		Detail: "staged certificate set for " + it.name + " rejected: " + err.Error() + "; it was purged so that md-order orders a new one"}
}

// prepare checks the staged set of a locked item and writes its tmp set.
func (r *runner) prepare(ctx context.Context, it *item) {
	it.live, it.liveOK = loadLive(ctx, r.st, it.name, it.specs)
	if !it.locked {
		return
	}
	if _, err := r.st.RecoverPromote(ctx, store.GroupTmp, it.name); err != nil {
		it.fail(ProblemStore, fmt.Errorf("finishing an interrupted activation: %w", err))
		return
	}
	// md-order and md-install write staging/<md> only under the MD lock
	// we hold: a temp file there is a dead writer's
	if _, err := r.st.SweepTemp(ctx, store.GroupStaging, it.name); err != nil {
		it.fail(ProblemStore, fmt.Errorf("sweeping staging/%s: %w", it.name, err))
		return
	}
	if !r.stagedFinished(ctx, it) {
		return
	}
	set, err := loadStaged(ctx, r.st, it.name, it.specs)
	if err == nil {
		err = check(set.creds, it.rec.Domains, r.now)
	}
	if err != nil {
		if isInvalid(err) && r.stagedIsLive(ctx, it) {
			// a run died purging a set it had made live: finish its work
			// silently instead of rejecting what is already served
			it.action, it.reason = "finish", "finished an activation that was interrupted"
			return
		}
		if isInvalid(err) {
			it.reject(err)
		} else {
			it.fail(ProblemStore, err)
		}
		return
	}
	it.set = set
	hook("checked", it.name)
	if it.liveOK && sameCerts(set.creds, it.live) {
		it.action, it.reason = "finish", "finished an activation that was interrupted"
		return
	}
	var delay time.Duration
	if it.rec.Settings != nil && it.rec.Settings.ActivationDelay != "" {
		delay, _ = md.ParseDuration(it.rec.Settings.ActivationDelay, md.Day)
	}
	var liveValid []credential
	if it.liveOK {
		liveValid = it.live
	}
	if at := readyAt(set.creds, liveValid, delay, r.now); r.now.Before(at) {
		it.action, it.readyAt = "waiting", at
		it.reason = "staged certificate is ready at " + at.UTC().Format(time.RFC1123)
		return
	}
	// tmp/<md>: plain keys, certificates, job; md.json follows in phase 2.
	r.dirty.Store(true)
	if err := r.dst.Purge(ctx, store.GroupTmp, it.name); err != nil {
		it.fail(ProblemStore, err)
		return
	}
	for _, c := range set.creds {
		if err := r.dst.SaveKey(ctx, store.GroupTmp, it.name, c.spec.FileName("privkey"), c.key); err != nil {
			it.fail(ProblemStore, err)
			return
		}
		if err := r.dst.SaveChain(ctx, store.GroupTmp, it.name, c.spec.FileName("pubcert"), c.chain); err != nil {
			it.fail(ProblemStore, err)
			return
		}
	}
	job := set.job
	job.Name = it.name
	job.Last = &md.JobResult{Status: 0, Detail: "new certificate successfully saved in domains", Activity: "moving tmp to become new domains"}
	job.AddLog(r.now, "progress", "", "md-install: activating the staged certificate set (valid since "+md.NewTime(set.creds[0].chain[0].NotBefore).Format(timeFormat)+")")
	if err := r.dst.SaveJob(ctx, store.GroupTmp, it.name, job); err != nil {
		it.fail(ProblemStore, err)
		return
	}
	it.tmpJob = job
	hook("tmp-written", it.name)
	if d := deployOf(it.rec); d != nil {
		plan, err := r.deployer.prepare(d, it.name, set.creds)
		if err != nil {
			it.fail(ProblemDeploy, err)
			_ = r.dst.Purge(ctx, store.GroupTmp, it.name)
			return
		}
		it.deploy = plan
		r.noteDeployDir(filepath.Dir(filepath.Clean(d.Dir)))
	}
	it.action = "activate"
}

// stagedIsLive reports whether what is left in staging/<md> is the live
// set: every staged certificate is the live one and every staged key is
// the live certificate's. That is a set that was promoted by a run that
// died before (or, with an older md-install, while) purging it.
func (r *runner) stagedIsLive(ctx context.Context, it *item) bool {
	if !it.liveOK || len(it.live) == 0 {
		return false
	}
	for _, c := range it.live {
		data, err := r.st.Read(ctx, store.GroupStaging, it.name, c.spec.FileName("pubcert"))
		if err != nil {
			return false
		}
		block, _ := pem.Decode(data)
		if block == nil || !bytes.Equal(block.Bytes, c.chain[0].Raw) {
			return false
		}
		key, err := r.st.LoadKey(ctx, store.GroupStaging, it.name, c.spec.FileName("privkey"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		leaf, perr := x509.ParseCertificate(c.chain[0].Raw)
		if err != nil || perr != nil || !renew.KeyFits(leaf, key) {
			return false
		}
	}
	return true
}

// stagedFinished tells whether staging/<md> holds a set md-order finished:
// its job.json says finished, or (a set staged by hand) there is no job.json
// but md.json and every certificate. A set md-order is still working on
// (an order, some keys) is left alone: md-order resumes it.
func (r *runner) stagedFinished(ctx context.Context, it *item) bool {
	if r.st.Exists(ctx, store.GroupStaging, it.name, store.FileJob) {
		job, err := r.st.LoadJob(ctx, store.GroupStaging, it.name)
		if err != nil {
			it.reject(err)
			return false
		}
		if !job.Finished && (r.st.Exists(ctx, store.GroupStaging, it.name, store.FileMD) || r.st.Exists(ctx, store.GroupStaging, it.name, it.specs[0].FileName("pubcert"))) {
			it.reason = "md-order has not finished the staged set"
		}
		return job.Finished
	}
	if !r.st.Exists(ctx, store.GroupStaging, it.name, store.FileMD) {
		return false // another run activated it while we waited
	}
	for _, spec := range it.specs {
		if !r.st.Exists(ctx, store.GroupStaging, it.name, spec.FileName("pubcert")) {
			it.reason = "md-order has not finished the staged set"
			return false
		}
	}
	return true
}

const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func deployOf(rec *md.Record) *md.Deploy {
	if rec.Host != nil && rec.Host.Deploy != nil && rec.Host.Deploy.Dir != "" {
		return rec.Host.Deploy
	}
	return nil
}

// promoteAll saves staged accounts and md.json, then swaps the tmp sets
// in, all under the store-wide lock.
func (r *runner) promoteAll(ctx context.Context) error {
	var act, fin []*item
	for _, it := range r.items {
		switch it.action {
		case "activate":
			act = append(act, it)
		case "finish":
			fin = append(fin, it)
		}
	}
	if len(act) == 0 && len(fin) == 0 {
		return nil
	}
	unlock, err := r.st.Lock(ctx, "", r.opts.LockWait)
	if err != nil {
		for _, it := range act {
			it.fail(ProblemStore, fmt.Errorf("taking the store lock: %w", err))
			r.abortTmp(ctx, it)
		}
		if errors.Is(err, store.ErrLocked) && len(act) > 0 {
			r.locked = true
		}
		return nil
	}
	defer unlock()
	// An interrupted activation may have left a dead writer's temp file in
	// the live set; with the MD lock and the store lock (md-parse's) held,
	// no live writer owns one. (An activated set's old live set is swept
	// when it is archived.)
	for _, it := range fin {
		if _, err := r.st.SweepTemp(ctx, store.GroupDomains, it.name); err != nil {
			r.opts.Log.Warnf("%s: sweeping domains/%s: %v", it.name, it.name, err)
		}
	}
	if len(act) == 0 {
		return nil
	}
	r.dirty.Store(true)
	for _, it := range act {
		m := r.liveMD(it)
		if it.set.accountJSON != nil {
			id, err := r.accounts.save(ctx, r.dst, it.set.accountJSON, it.set.accountKey, it.set.md.CA.URL)
			if err != nil {
				if isInvalid(err) {
					it.reject(err)
				} else {
					it.fail(ProblemStore, err)
				}
				r.abortTmp(ctx, it)
				continue
			}
			m.CA.Account, it.account = id, id
			hook("account-saved", it.name)
		} else if m.CA.Account == "" {
			m.CA.Account = r.accounts.forCA(ctx, r.st, m.CA.URL)
		}
		if err := r.dst.SaveMD(ctx, store.GroupTmp, m); err != nil {
			it.fail(ProblemStore, err)
			r.abortTmp(ctx, it)
			continue
		}
	}
	if err := r.syncAll(); err != nil {
		return err
	}
	r.parallelOver(act, func(it *item) {
		if it.action != "activate" {
			return
		}
		hook("before-promote", it.name)
		arch, err := r.dst.Promote(ctx, store.GroupTmp, it.name)
		if err != nil {
			it.fail(ProblemStore, fmt.Errorf("activating: %w", err))
			r.abortTmp(ctx, it)
			return
		}
		it.archive = arch
		hook("promoted", it.name)
	})
	return r.syncAll()
}

// liveMD builds the md.json of the new live set: the MD as configured (the
// record), with the effective CA and the account of the staged set (the
// account that ordered these certificates: only it may name them in an
// ARI "replaces"), state complete.
func (r *runner) liveMD(it *item) *md.MD {
	m := it.rec.MD
	m.Extra = it.rec.MD.Extra
	ca := md.CA{}
	if m.CA != nil {
		ca = *m.CA
	}
	if it.set.md.CA != nil && it.set.md.CA.Account != "" {
		ca.Account = it.set.md.CA.Account
	}
	ca.URL = it.set.md.CA.URL
	if ca.Proto == "" {
		ca.Proto = md.ProtoACME
	}
	m.CA = &ca
	m.State, m.StateDescr = md.StateComplete, ""
	return &m
}

func (r *runner) abortTmp(ctx context.Context, it *item) {
	_ = r.st.Purge(ctx, store.GroupTmp, it.name)
	if it.deploy != nil {
		it.deploy.abort()
		it.deploy = nil
	}
}

// finish completes an activation (deploy flip, purge, job log, event) or a
// rejection (purge, job log, event).
func (r *runner) finish(ctx context.Context, it *item) {
	switch it.action {
	case "activate", "finish":
		r.dirty.Store(true)
	case "rejected":
		r.dirty.Store(true)
		r.purgeStaging(ctx, it)
		job, err := r.st.LoadJob(ctx, store.GroupDomains, it.name)
		if err != nil {
			job = &md.Job{Name: it.name}
		}
		job.AddLog(r.now, "install-error", ProblemInvalidStaging, it.err.Detail)
		r.raise(ctx, it, job, "errored")
		// the MD's job log lives beside its md.json; no half set is made
		// in domains/ for an MD md-parse has not synced
		if r.st.Exists(ctx, store.GroupDomains, it.name, store.FileMD) {
			if err := r.dst.SaveJob(ctx, store.GroupDomains, it.name, job); err != nil {
				r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
			}
		}
		return
	default:
		return
	}
	if it.deploy != nil {
		if err := it.deploy.commit(); err != nil {
			it.fail(ProblemDeploy, err)
		} else {
			it.rec.Install = ensureInstall(it.rec)
		}
		hook("deployed", it.name)
	}
	job := it.tmpJob
	if job == nil {
		var err error
		if job, err = r.st.LoadJob(ctx, store.GroupDomains, it.name); err != nil {
			job = &md.Job{Name: it.name}
		}
	}
	detail := "The new certificate set for " + it.name + " is live in domains/" + it.name
	if it.archive != "" {
		detail += "; the previous set is in archive/" + it.archive
	}
	job.AddLog(r.now, "progress", "", "md-install: "+detail)
	r.raise(ctx, it, job, "installed")
	if err := r.dst.SaveJob(ctx, store.GroupDomains, it.name, job); err != nil {
		r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
	}
	hook("job-saved", it.name)
	r.purgeStaging(ctx, it)
	hook("purged", it.name)
	if it.set != nil {
		it.live, it.liveOK = it.set.creds, true
	} else {
		it.live, it.liveOK = loadLive(ctx, r.st, it.name, it.specs)
	}
	it.changed = true
	r.opts.Log.Infof("%s: activated%s", it.name, archiveNote(it.archive))
	if it.action == "finish" {
		it.action = "activated"
	} else {
		it.action, it.reason = "activated", ""
	}
}

func archiveNote(a string) string {
	if a == "" {
		return ""
	}
	return " (previous set archived as archive/" + a + ")"
}

func ensureInstall(rec *md.Record) *md.InstallResult {
	if rec.Install == nil {
		rec.Install = &md.InstallResult{}
	}
	return rec.Install
}

// purgeStaging removes the staged set and the MD's challenge data.
func (r *runner) purgeStaging(ctx context.Context, it *item) {
	if err := r.dst.Purge(ctx, store.GroupStaging, it.name); err != nil {
		r.opts.Log.Warnf("%s: purging staging: %v", it.name, err)
	}
	for _, d := range it.rec.Domains {
		if err := r.dst.Purge(ctx, store.GroupChallenges, d); err != nil && !errors.Is(err, store.ErrBadName) {
			r.opts.Log.Warnf("%s: purging challenges/%s: %v", it.name, d, err)
		}
	}
}

// raise signals an event through lib/event (MDMessageCmd, rate limits,
// job-log entry). A failing command is logged, never fatal: mod_md ignores
// the exit code of installed and errored, and an expiring warning must not
// stop an installation.
func (r *runner) raise(ctx context.Context, it *item, job *md.Job, reason string) {
	n := event.New(it.rec.Settings)
	n.Log = r.opts.Log
	if err := n.Raise(ctx, job, reason, it.name, r.now); err != nil {
		r.opts.Log.Warnf("%s: event %s: %v", it.name, reason, err)
	}
}

// refreshDeploy rewrites the deploy set of an MD whose deployed files are
// not the live certificate (first deploy, a run killed before the flip, a
// changed deploy config).
func (r *runner) refreshDeploy(ctx context.Context, it *item) {
	d := deployOf(it.rec)
	if d == nil || !it.liveOK || it.action == "failed" || it.action == "rejected" {
		return
	}
	if it.rec.Install == nil {
		it.rec.Install = &md.InstallResult{}
	}
	it.rec.Install.Deploy = deployPath(d, it.name)
	if deployCurrent(d, it.name, it.live) {
		r.sweepDeploy(ctx, it, d)
		return
	}
	if !it.locked {
		if err := r.lock(ctx, it); err != nil || !it.locked {
			return
		}
		if it.err != nil {
			return
		}
	}
	creds := make([]credential, 0, len(it.live))
	for _, c := range it.live {
		if err := c.fullChain(); err != nil {
			it.fail(ProblemDeploy, err)
			return
		}
		key, err := r.st.LoadKey(ctx, store.GroupDomains, it.name, c.spec.FileName("privkey"))
		if err != nil {
			it.fail(ProblemDeploy, fmt.Errorf("reading the live key: %w", err))
			return
		}
		creds = append(creds, credential{spec: c.spec, key: key, chain: c.chain})
	}
	plan, err := r.deployer.prepare(d, it.name, creds)
	if err == nil {
		if err = store.SyncFS(plan.dir); err == nil {
			err = plan.commit()
		}
		if err != nil {
			plan.abort()
		}
	}
	if err != nil {
		it.fail(ProblemDeploy, err)
		return
	}
	it.changed = true
	r.opts.Log.Infof("%s: deployed to %s", it.name, deployPath(d, it.name))
}

// writeApache writes the snippet of every MD when --apache-dir is set. An
// MD without a live certificate gets mod_md's fallback certificate, so that
// Apache starts (and answers 503 on HTTPS) until the first one is issued.
func (r *runner) writeApache(ctx context.Context) {
	if r.opts.ApacheDir == "" {
		return
	}
	for _, it := range r.items {
		src := CertLive
		if !it.liveOK {
			if !it.locked {
				unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
				if err != nil {
					r.opts.Log.Warnf("%s: Apache snippet not updated: %v", it.name, err)
					continue
				}
				it.unlock, it.locked = unlock, true
			}
			wrote, err := ensureFallback(ctx, r.st, &it.rec.MD, r.now)
			if err != nil {
				it.fail(ProblemDeploy, fmt.Errorf("making the fallback certificate: %w", err))
				continue
			}
			if wrote {
				it.changed = true
			}
			src = CertFallback
		}
		path := apacheSnippetPath(r.opts.ApacheDir, it.name)
		changed, err := writeIfChanged(path, ApacheSnippet(&it.rec.MD, r.opts.StoreDir, src), 0o644)
		if err != nil {
			it.fail(ProblemDeploy, fmt.Errorf("writing Apache snippet: %w", err))
			continue
		}
		ensureInstall(it.rec).Apache = path
		if changed {
			it.changed = true
		}
	}
}

// reloadAndVerify runs the reload command once if anything changed, then
// checks what the server serves.
func (r *runner) reloadAndVerify(ctx context.Context) {
	var changed []*item
	argv := r.opts.ReloadCmd
	for _, it := range r.items {
		if !it.changed {
			continue
		}
		changed = append(changed, it)
		if len(argv) == 0 && it.rec.Settings != nil && len(it.rec.Settings.ReloadCmd) > 0 {
			argv = it.rec.Settings.ReloadCmd
		}
	}
	if len(changed) == 0 {
		return
	}
	if len(argv) == 0 {
		r.opts.Log.Infof("no reload command: the server picks up the new certificates at its next reload")
		return
	}
	r.opts.Log.Infof("reloading: %s", strings.Join(argv, " "))
	if err := runReload(ctx, argv, r.opts.ReloadTimeout, r.opts.Log); err != nil {
		for _, it := range changed {
			it.unconfirmed = true
			it.fail(ProblemReload, fmt.Errorf("%w; the new certificate is live in the store but the server was not reloaded (the next run tries again)", err))
			r.logInstallError(ctx, it)
		}
		return
	}
	for _, it := range changed {
		ensureInstall(it.rec).Reloaded = true
	}
	if r.opts.NoVerify {
		for _, it := range changed {
			it.confirmed = true
		}
		return
	}
	var wg sync.WaitGroup
	for _, it := range changed {
		if !it.liveOK {
			continue
		}
		wg.Add(1)
		go func(it *item) {
			defer wg.Done()
			r.verify(ctx, it)
		}(it)
	}
	wg.Wait()
}

func (r *runner) verify(ctx context.Context, it *item) {
	ts := verifyTargets(it.rec, r.opts.VerifyAddr)
	if len(ts) == 0 {
		return
	}
	want, old := map[string]bool{}, map[string]bool{}
	for _, c := range it.live {
		want[Fingerprint(c.chain[0])] = true
	}
	if it.set != nil {
		// the previous live set is what a server that did not reload serves
		if prev, ok := r.previous(ctx, it); ok {
			for _, fp := range prev {
				if !want[fp] {
					old[fp] = true
				}
			}
		}
	}
	err := verifyServed(ctx, ts, want, old, r.opts.VerifyTimeout, r.opts.VerifyInterval)
	served := err == nil
	ensureInstall(it.rec).Served = &served
	if served {
		it.confirmed = true
		return
	}
	it.unconfirmed = true
	it.fail(ProblemNotServed, fmt.Errorf("the server does not serve the new certificate after the reload: %v; check that the vhost includes the md-install snippet or uses the deploy files, and that the reload command reloads this server (the next run reloads and checks again)", err))
	r.logInstallError(ctx, it)
}

// logInstallError puts the item's error into the MD's job log and raises
// "errored".
func (r *runner) logInstallError(ctx context.Context, it *item) {
	if !it.locked {
		unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
		if err != nil {
			return
		}
		it.unlock, it.locked = unlock, true
	}
	job, err := r.st.LoadJob(ctx, store.GroupDomains, it.name)
	if err != nil {
		return
	}
	job.AddLog(r.now, "install-error", it.err.Problem, it.err.Detail)
	r.raise(ctx, it, job, "errored")
	if err := r.st.SaveJob(ctx, store.GroupDomains, it.name, job); err != nil {
		r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
	}
}

// notePending records which MDs still wait for a confirmed reload.
func (r *runner) notePending(ctx context.Context) {
	add, remove := map[string]bool{}, map[string]bool{}
	for _, it := range r.items {
		switch {
		case it.unconfirmed:
			add[it.name] = true
		case it.confirmed:
			remove[it.name] = true
		}
	}
	if err := updatePending(ctx, r.st, add, remove); err != nil {
		r.opts.Log.Warnf("recording MDs that wait for a reload: %v", err)
	}
}

// previous returns the fingerprints of the set that was live before this
// run's activation.
func (r *runner) previous(ctx context.Context, it *item) ([]string, bool) {
	if it.archive == "" {
		return nil, false
	}
	var fps []string
	for _, spec := range it.specs {
		chain, err := r.st.LoadChain(ctx, store.GroupArchive, it.archive, spec.FileName("pubcert"))
		if err != nil {
			continue
		}
		fps = append(fps, Fingerprint(chain[0]))
	}
	return fps, len(fps) > 0
}

// report fills the record's install section and error.
func (r *runner) report(it *item) {
	in := ensureInstall(it.rec)
	in.Action, in.Reason = it.action, it.reason
	if it.action == "activated" {
		in.At = md.NewTime(r.now)
		in.Archive = it.archive
		in.Account = it.account
	}
	if !it.readyAt.IsZero() {
		in.ReadyAt = md.NewTime(it.readyAt)
	}
	in.Certs = nil
	for _, c := range it.live {
		in.Certs = append(in.Certs, renew.CertInfo(c.spec, c.chain[0]))
	}
	if it.err != nil {
		if it.rec.Error == nil || it.rec.Error.Stage == "install" {
			it.rec.Error = it.err
		} else {
			in.Reason = strings.TrimPrefix(in.Reason+"; "+it.err.Detail, "; ")
		}
	}
}

// sweepDeploy removes an MD's orphaned deploy sets (old private keys) when
// its current set is in place: a run killed after the symlink flip but
// before removing the previous set leaves nothing else to notice it. The
// sweep runs under the MD's lock, so a set another run is preparing is
// never taken for an orphan.
func (r *runner) sweepDeploy(ctx context.Context, it *item, d *md.Deploy) {
	stale, err := r.deployer.staleSets(d)
	if err != nil || len(stale) == 0 {
		return
	}
	if !it.locked {
		// try once: a run holding the lock sweeps itself, or the next does
		unlock, err := r.st.Lock(ctx, it.name, -1)
		if err != nil {
			return
		}
		defer unlock()
		// listed before the lock: list again under it
		stale, err = (&deployer{}).staleSets(d)
		if err != nil {
			return
		}
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			r.opts.Log.Warnf("%s: removing the orphaned deploy set %s: %v", it.name, p, err)
		}
	}
	r.noteDeployDir(filepath.Dir(filepath.Clean(d.Dir)))
}
