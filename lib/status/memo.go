package status

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/store"
)

// The whole-store views that print one part per MD (the JSON list, the
// table, the metrics) remember each MD's part in a memo (lib/memo,
// memo-status-<view>.bin in the store directory) and reuse it while the
// MD's directories and root files are unchanged and the clock has not
// reached a moment at which the part would read differently (renew-at,
// warn-at, the end of validity, the next change of a "3 days"). The time
// is then applied afresh: a part is rendered at the time it was made and
// is byte for byte what rendering it now would give.

// forever is the Until of a part that no passing time changes.
const forever = math.MaxInt64

// memoStages are the memo files of the views that have one.
var memoStages = map[View]string{ViewJSON: "status-json", ViewTable: "status-table", ViewMetrics: "status-metrics"}

// memoPaths are the store paths an MD's parts depend on: its sets in
// domains/, ocsp/ and staging/ (files there are replaced by rename, which
// changes the directory) and revoked-<md>.json. (ari-<md>.json is read
// for the plan and the HTML page only.)
func memoPaths(name string) []memo.Path {
	return []memo.Path{
		{Group: string(store.GroupDomains), Name: name},
		{Group: string(store.GroupOCSP), Name: name},
		{Group: string(store.GroupStaging), Name: name},
		{Name: store.RevokedFile(name)},
	}
}

// viewMemo is the memo of one view in one run.
type viewMemo struct {
	m     *memo.Memo
	file  string
	write bool // the store directory is writable: new parts are remembered
	hits  atomic.Int64
	total atomic.Int64
}

// openViewMemo opens the view's memo when the reader has a memo directory
// and the view has one. A memo that cannot be read is an empty one; one
// that cannot be written is used as it is.
func (r *Reader) openViewMemo(view View) *viewMemo {
	stage, ok := memoStages[view]
	if !ok || r.MemoDir == "" {
		return nil
	}
	m, _ := memo.Open(r.MemoDir, stage, r.MemoContext)
	return &viewMemo{m: m, file: memo.FileName(stage), write: unix.Access(r.MemoDir, unix.W_OK) == nil}
}

// close saves what was remembered (quietly not, when that fails) and
// reports the hits.
func (vm *viewMemo) close(report func(string)) {
	if vm == nil {
		return
	}
	if vm.write {
		_ = vm.m.Save() // only a cache: the next run just works harder
	}
	vm.m.Close()
	if report != nil {
		report(fmt.Sprintf("%d of %d MDs answered from the memo (%s)", vm.hits.Load(), vm.total.Load(), vm.file))
	}
}

// part is one MD's share of a view: its bytes, whether the MD had
// unreadable files, and until when the bytes stay as they are.
type part struct {
	data  []byte
	bad   bool
	until int64 // Unix ns; 0: may change any moment
	ok    bool  // the MD exists
}

// partFunc renders one MD's part.
type partFunc func(rep *Report) (part, error)

// eachPart calls fn with every named MD's part in the order of names:
// remembered by the view's memo (vm may be nil) when that still holds,
// else loaded and rendered (and remembered). A name that vanished
// meanwhile is skipped.
func (r *Reader) eachPart(ctx context.Context, names []string, vm *viewMemo, render partFunc, fn func(p part) error) error {
	workers := min(runtime.GOMAXPROCS(0), 8)
	const window = 64 // parts made but not yet handed to fn, at most
	loader := sync.OnceValue(func() *Reader {
		if len(names) > 1 {
			return r.withPresence(ctx) // only when some MD is loaded
		}
		return r
	})
	parts := make([]part, len(names))
	var firstErr error
	var errOnce sync.Once
	return pool.Ordered(len(names), workers, window, func(i int) {
		p, err := r.partOf(ctx, names[i], vm, loader, render)
		if err != nil {
			errOnce.Do(func() { firstErr = err })
		}
		parts[i] = p
	}, func(i int) error {
		if firstErr != nil {
			return firstErr
		}
		p := parts[i]
		parts[i] = part{} // emitted: let it go
		if !p.ok {
			return nil
		}
		return fn(p)
	})
}

// partOf is one MD's part, from the memo or made afresh.
func (r *Reader) partOf(ctx context.Context, name string, vm *viewMemo, loader func() *Reader, render partFunc) (part, error) {
	var key memo.Key
	var sum uint64 // the paths before loading: a change while loading shows
	if vm != nil {
		vm.total.Add(1)
		key = memo.KeyOf([]byte(name))
		if e, ok := vm.m.Candidate(key, r.clock()); ok && e.Name == name && vm.m.Valid(e, memoPaths) {
			vm.hits.Add(1)
			return part{data: e.TailA, ok: true}, nil
		}
		sum, _ = vm.m.Fingerprint(memoPaths(name), nil)
	}
	rep, err := loader().Load(ctx, name)
	if err != nil {
		return part{}, nil // vanished
	}
	p, err := render(rep)
	if err != nil {
		return part{}, err
	}
	p.ok, p.bad = true, len(rep.Problems) > 0
	if vm != nil && vm.write {
		vm.remember(key, rep, p, sum)
	}
	return p, nil
}

// remember keeps the part of a report that was read whole from files
// that did not change while it was read (sum is their fingerprint before)
// and are older than memo.Margin.
func (vm *viewMemo) remember(key memo.Key, rep *Report, p part, sum uint64) {
	decided := rep.Now.UnixNano()
	ok := !p.bad && p.until > decided && rep.MD != nil && len(rep.MD.CertFiles) == 0
	if ok {
		again, settled := vm.m.Fingerprint(memoPaths(rep.Name), nil)
		ok = again == sum && settled
	}
	if !ok {
		vm.m.Forget(rep.Name)
		return
	}
	vm.m.Put(key, &memo.Entry{Name: rep.Name, Stat: sum, Decided: decided, Until: p.until, TailA: p.data})
}

// untilCalc finds the first moment after a report's Now at which
// something it shows may read differently.
type untilCalc struct {
	now   time.Time
	until int64
}

func newUntil(rep *Report) *untilCalc { return &untilCalc{now: rep.Now, until: forever} }

// at notes a moment at which a comparison with the clock flips (only
// moments still ahead count).
func (u *untilCalc) at(t time.Time) {
	if t.After(u.now) && t.UnixNano() < u.until {
		u.until = t.UnixNano()
	}
}

// next notes the moment a part changes after (when it is Now: right
// after Now, which no memo can use).
func (u *untilCalc) next(t time.Time) {
	if t.UnixNano() < u.until {
		u.until = t.UnixNano()
	}
}

// never marks the part as changing with every tick.
func (u *untilCalc) never() { u.until = 0 }

// renewal notes what the JSON and metrics show of the time: "renew" turns
// true at renew-at; a renew-at that is the time of reading (an incomplete
// MD, a missing certificate) follows the clock.
func (u *untilCalc) renewal(rep *Report) {
	if !rep.RenewAt.IsZero() && rep.RenewAt.Equal(rep.Now) {
		u.never()
		return
	}
	u.at(rep.RenewAt)
}

// roughly notes when Roughly(t, now) next reads differently.
func (u *untilCalc) roughly(t time.Time) {
	if t.IsZero() {
		return
	}
	d := t.Sub(u.now)
	switch {
	case d >= 4*md.Day:
		u.next(t.Add(-4 * md.Day)) // from then on "in 3 days"...
	case d <= -4*md.Day:
		// "on <date>" for good
	case d < 2*time.Second && d > -2*time.Second:
		u.next(t.Add(2 * time.Second)) // "just now" until "2 seconds ago"
	case d > 0:
		unit := roughUnit(d)
		u.next(t.Add(-(d / unit) * unit))
	default:
		unit := roughUnit(-d)
		u.next(t.Add((-d/unit + 1) * unit))
	}
}

// daysLeft notes when DaysLeft(t, now) next changes.
func (u *untilCalc) daysLeft(t time.Time) {
	d := t.Sub(u.now)
	if d >= 0 {
		u.next(t.Add(-(d / md.Day) * md.Day))
		return
	}
	u.next(t.Add(((-d + md.Day - 1) / md.Day) * md.Day))
}

// roughUnit is the unit roughDuration counts d in.
func roughUnit(d time.Duration) time.Duration {
	switch {
	case d >= 2*md.Day:
		return md.Day
	case d >= 2*time.Hour:
		return time.Hour
	case d >= 2*time.Minute:
		return time.Minute
	}
	return time.Second
}

// tableUntil is until when rep.Row() stays as it is.
func tableUntil(rep *Report) int64 {
	u := newUntil(rep)
	u.renewal(rep)
	u.at(rep.WarnAt)
	u.roughly(rep.RenewAt)
	if _, until := rep.Valid(); !until.IsZero() {
		u.daysLeft(until) // a day boundary is also the end ("expired")
	}
	if j := rep.Job; j != nil && !j.NextRun.IsZero() {
		u.at(j.NextRun.Time)
		u.roughly(j.NextRun.Time)
	}
	if h := rep.History; h != nil {
		u.roughly(h.LastRun.Time)
	}
	return u.until
}

// renewalUntil is until when the JSON and metrics of rep stay as they are.
func renewalUntil(rep *Report) int64 {
	u := newUntil(rep)
	u.renewal(rep)
	return u.until
}
