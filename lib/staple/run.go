package staple

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/pool"
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
	Notes    *Notes                      // if set, learns which answers md-staple's memo may keep

	clientMu sync.Mutex
	reqOnce  sync.Once
	reqs     chan struct{} // a slot per request in flight (Parallel)
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
	certs     map[string]ocspfile.CertState
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
	forEach(len(sets), scanParallel, func(i int) { r.triage(ctx, sets[i], now) })
	// Lock the sets with work, in name order, then re-check what is due:
	// another run may have fetched meanwhile.
	var withWork, rest []*Set
	for _, s := range sets {
		if len(s.due) > 0 {
			withWork = append(withWork, s)
		} else {
			rest = append(rest, s)
		}
	}
	sort.Slice(withWork, func(i, j int) bool { return withWork[i].Group < withWork[j].Group })
	// A lock is an open file held until the set is finished: batches of
	// at most maxLocks sets keep a run over more sets with work than the
	// open file limit (100,000 new certificates) from failing with "too
	// many open files".
	for b := maxLocks(); len(withWork) > 0; withWork = withWork[min(b, len(withWork)):] {
		if err := r.runLocked(ctx, withWork[:min(b, len(withWork))], now); err != nil {
			return err
		}
	}
	// Storing is mostly waiting for fsync: overlap the sets' writes.
	forEach(len(rest), finishParallel, func(i int) { r.finish(ctx, rest[i]) })
	return nil
}

// triage decides from the stored files alone what a set needs: its
// settings are read and every target scanned, the due ones collected in
// s.due (none: the set only needs finishing). Settings that do not parse
// fail the record and leave no targets.
func (r *Runner) triage(ctx context.Context, s *Set, now time.Time) {
	if err := r.prepare(s); err != nil {
		failRecord(s.Record, err)
		s.Targets = nil
		return
	}
	r.scan(ctx, s, now)
}

// runLocked locks sets (in the order given), re-checks what is due under
// the locks, fetches it, finishes the sets and unlocks them.
func (r *Runner) runLocked(ctx context.Context, locked []*Set, now time.Time) error {
	defer func() {
		for _, s := range locked {
			if s.unlock != nil {
				s.unlock()
				s.unlock = nil
			}
		}
	}()
	for _, s := range locked {
		unlock, err := r.Store.Lock(ctx, lockName(s.Group), r.LockWait)
		if node := store.Elsewhere(err); node != "" {
			// another node of a shared store fetches them now
			for _, w := range s.due {
				w.entry.Action, w.entry.Detail = "in-progress", "in progress on another node: "+node
			}
			s.due = nil
			continue
		}
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
	for _, s := range locked {
		all = append(all, s.due...)
	}
	r.fetchAll(ctx, all)
	// Storing is mostly waiting for fsync: overlap the sets' writes.
	forEach(len(locked), finishParallel, func(i int) { r.finish(ctx, locked[i]) })
	return nil
}

// maxLocks bounds the OCSP locks a run holds at once: the open file limit
// (ulimit -n) less a reserve for the run's own files. Tests lower it.
var maxLocks = func() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return max(64, int(rl.Cur)-1024)
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

func (r *Runner) jitter() byte {
	if r.Jitter != nil {
		return r.Jitter()
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	return b[0]
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
