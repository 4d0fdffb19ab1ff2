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
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
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
	// Notes, if set, learns which answers md-install's memo may keep.
	Notes *Notes
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
	action  string // none, waiting, activate, finish, rejected, failed, in-progress
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
	needsBatch             bool // Quick: this item needs what only Run does
}

// Run processes the records: activation, outputs, reload, verification,
// warnings. Per-record outcomes go into rec.Install and rec.Error; the
// returned error is nil, or wraps store.ErrLocked when some MD was locked
// by another run, or is a store-wide failure.
func Run(ctx context.Context, opts Options, recs []*md.Record) error {
	in, err := NewInstaller(opts)
	if err != nil {
		return err
	}
	return in.Run(ctx, recs)
}

// Installer is one md-install run over records that come one by one:
// Quick answers, as they come, the records the batch could do nothing
// more for; Run works on the others together (one reload).
type Installer struct {
	opts  Options
	quick *runner // Quick's checks: read-only, never locks
	mu    sync.Mutex
	asked map[string]bool // names given to Quick
	done  map[string]bool // names Quick answered
	// pending is the MDs that wait for a confirmed reload, read once
	pendingOnce sync.Once
	pending     map[string]bool
}

// NewInstaller checks the options and fills in their defaults.
func NewInstaller(opts Options) (*Installer, error) {
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
			return nil, fmt.Errorf("writing Apache snippets: the store %s is not a local directory Apache could read; give the directory Apache serves it from (--apache-store-dir)", opts.Store)
		}
		opts.StoreDir = ld.Dir()
	}
	q := &runner{opts: opts, st: opts.Store, now: opts.Now().UTC(), quick: true}
	return &Installer{opts: opts, quick: q, asked: map[string]bool{}, done: map[string]bool{}}, nil
}

// Run activates, deploys, reloads and verifies for recs, as one batch. A
// record for an MD that Quick answered counts as a second record for it.
func (in *Installer) Run(ctx context.Context, recs []*md.Record) error {
	r := &runner{opts: in.opts, st: in.opts.Store, now: in.opts.Now().UTC()}
	// warnings alike for many MDs (expiring, a failing event command) are
	// counted after three: logger.Alike
	alike := &logger.Alike{Log: in.opts.Log}
	defer alike.Done()
	r.opts.Log = alike
	in.mu.Lock()
	r.answered = in.done
	in.mu.Unlock()
	r.dst, r.sync = in.opts.Store.Deferred()
	r.phase("start")
	defer r.unlockAll()
	return r.run(ctx, recs)
}

// Quick works on a record alone when Run could do nothing more for it,
// and then fills in rec as Run would and returns true: nothing staged or
// half activated (staging/<md>, tmp/<md>), live certificates, no reload
// pending, the deployed files current with no orphan sets, no "expiring"
// event due. Otherwise it returns false, rec unchanged and nothing
// written, and rec is for Run. It never locks or writes, so it runs on
// many records at once; a name it was given before is for Run. With Apache
// snippets (written for all records at once) every record is for Run.
//
// A run over 100,000 MDs that its memo cannot answer (the first after an
// upgrade or a config change) held every record for one batch: 600 MB.
func (in *Installer) Quick(ctx context.Context, rec *md.Record) bool {
	if in.opts.ApacheDir != "" || !in.ask(rec.Name) {
		return false
	}
	in.pendingOnce.Do(func() { in.pending = readPending(ctx, in.opts.Store) })
	if in.pending[rec.Name] || !absent(ctx, in.opts.Store, store.GroupStaging, rec.Name) ||
		!absent(ctx, in.opts.Store, store.GroupTmp, rec.Name) {
		return false
	}
	saved, savedErr := rec.Install, rec.Error
	r := in.quick
	it := r.newItem(rec)
	it.live, it.liveOK = loadLive(ctx, r.st, it.name, it.specs)
	if !it.liveOK || len(it.live) == 0 {
		rec.Install, rec.Error = saved, savedErr
		return false
	}
	r.refreshDeploy(ctx, it)
	if !it.needsBatch {
		r.warn(ctx, it)
	}
	if it.needsBatch || it.changed || it.locked || it.err != nil || it.action != "none" {
		rec.Install, rec.Error = saved, savedErr
		return false
	}
	r.report(it)
	in.mu.Lock()
	in.done[rec.Name] = true
	in.mu.Unlock()
	return true
}

// ask notes a name given to Quick, reporting whether it is the first time.
func (in *Installer) ask(name string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.asked[name] {
		return false
	}
	in.asked[name] = true
	return true
}

// absent: the store has no set name in group g (an error reading it says
// nothing, so it is not absent).
func absent(ctx context.Context, st *store.Store, g store.Group, name string) bool {
	_, err := st.ModTime(ctx, g, name, "")
	return errors.Is(err, fs.ErrNotExist)
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
	// quick: Installer.Quick's runner, which never locks or writes: an
	// item that would need to sets needsBatch instead
	quick bool
	// answered: the names Quick answered, which makeItems counts as seen
	answered map[string]bool
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
	if err := r.makeItems(ctx, recs); err != nil {
		return err
	}
	if err := r.lockStaged(ctx); err != nil {
		return err
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
	if err := r.serverAndWarnings(ctx); err != nil {
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

// makeItems sweeps what killed purges left and makes one item per record,
// marking the MDs with something in staging/.
func (r *runner) makeItems(ctx context.Context, recs []*md.Record) error {
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
		it := r.newItem(rec)
		it.staged = inStaging[rec.Name]
		if seen[rec.Name] || r.answered[rec.Name] {
			// a second record for the same MD: the first one is handled
			it.staged = false
			it.fail("install-duplicate", fmt.Errorf("another record for %s came earlier in the input; this one is ignored", rec.Name))
		}
		seen[rec.Name] = true
		r.items[i] = it
	}
	return nil
}

// newItem makes a record's item; a section or error from an earlier
// md-install run is stale.
func (r *runner) newItem(rec *md.Record) *item {
	rec.Install = nil
	if rec.Error != nil && rec.Error.Stage == "install" {
		rec.Error = nil
	}
	return &item{rec: rec, name: rec.Name, specs: rec.PrivKey.Effective(), action: "none"}
}

// lockStaged locks the MDs with something staged, in name order (two runs
// never wait for each other in a cycle).
func (r *runner) lockStaged(ctx context.Context) error {
	var toLock []*item
	for _, it := range r.items {
		if it.staged {
			toLock = append(toLock, it)
		}
	}
	sort.Slice(toLock, func(i, j int) bool { return toLock[i].name < toLock[j].name })
	limit := maxLocks()
	for i, it := range toLock {
		if i >= limit {
			it.reason = fmt.Sprintf("staged set left for the next run: one run holds at most %d MD locks, an open file each until the reload (ulimit -n)", limit)
			continue
		}
		if err := r.lock(ctx, it); err != nil {
			return err
		}
	}
	if n := len(toLock) - limit; n > 0 {
		r.opts.Log.Warnf("%d staged sets left for the next run: one run holds at most %d MD locks (the open file limit, ulimit -n, less a reserve)", n, limit)
	}
	return nil
}

// maxLocks bounds the MD locks a run takes for staged sets. Each is an
// open file held until after the reload, so a run over more staged sets
// than the open file limit (ulimit -n) failed every MD with "too many open
// files" (100,000 MDs staged at once, issue 17); now the sets beyond it
// wait for the next run. A reserve of descriptors is kept for the run's
// own work. Tests lower it.
var maxLocks = func() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return max(64, int(rl.Cur)-lockReserve)
}

// lockReserve is the descriptors a run keeps free of MD locks.
const lockReserve = 1024

// serverAndWarnings writes the Apache snippets, reloads and verifies the
// server, notes pending activations, raises the expiry warnings and
// releases the MD locks.
func (r *runner) serverAndWarnings(ctx context.Context) error {
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
	return r.syncAll()
}

// lock takes the MD lock of an item; a lock held elsewhere beyond the wait
// fails only this item.
func (r *runner) lock(ctx context.Context, it *item) error {
	unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
	if err != nil {
		if node := store.Elsewhere(err); node != "" {
			// another node of a shared store is working on it: its own
			// md-install activates what it ordered
			it.action, it.reason = "in-progress", "in progress on another node: "+node
			return nil
		}
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
