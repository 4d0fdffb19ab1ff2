package status

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/store"
)

// The whole-store views that print one part per MD (the JSON list, the
// table, the metrics) remember each MD's part in a memo (lib/memo,
// memo-status-<view>.bin in the store directory) and reuse it while the
// MD's directories and root files are unchanged. A part must read the same
// whenever it is used: the JSON's and the metrics' hold until renew-at
// (when "renew" turns true), and the table's part is what the row is made
// from, all of it independent of the time, the row being made when shown
// (rowpart.go).

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
	puts  atomic.Int64 // parts remembered in this run
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

// close forgets the MDs that are not among names (all MDs of the store),
// saves the memo when enough changed (quietly not, when that fails) and
// reports the hits.
func (vm *viewMemo) close(report func(string), names []string) {
	if vm == nil {
		return
	}
	if vm.write {
		changed := vm.puts.Load()
		if int64(vm.m.Len()) > vm.hits.Load()+changed { // some entry is not of this run's MDs
			set := make(map[string]bool, len(names))
			for _, n := range names {
				set[n] = true
			}
			changed += int64(vm.m.Keep(func(n string) bool { return set[n] }))
		}
		if worthSaving(changed, vm.total.Load()) {
			_ = vm.m.Save() // only a cache: the next run just works harder
		}
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
	until int64        // Unix ns; 0: may change any moment
	ok    bool         // the MD exists
	row   TableRow     // the table's row, made from data (prep)
	lines []metricLine // the metrics' lines, read from data (prep)
}

// partFunc renders one MD's part.
type partFunc func(rep *Report) (part, error)

// eachPart calls fn with every named MD's part in the order of names:
// remembered by the view's memo (vm may be nil) when that still holds,
// else loaded and rendered (and remembered). A name that vanished
// meanwhile is skipped. prep, if set, works on each part in parallel
// before fn gets it.
func (r *Reader) eachPart(ctx context.Context, names []string, vm *viewMemo, render partFunc, prep func(p *part) error, fn func(p part) error) error {
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
		if err == nil && p.ok && prep != nil {
			err = prep(&p)
		}
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
		return // an entry of the MD that may be in the memo no longer fits
	}
	vm.m.Put(key, &memo.Entry{Name: rep.Name, Stat: sum, Decided: decided, Until: p.until, TailA: p.data})
	if vm.puts.Add(1) == manyPuts && os.Getenv("GOGC") == "" {
		// a run that fills the memo (the first after an upgrade)
		// collects more often rather than growing toward the memory
		// limit (its entries wait in the memo's spill file: 100,000 MDs
		// 227 -> 180 MB for the same CPU within noise)
		debug.SetGCPercent(fillingGCPercent)
	}
}

// manyPuts and fillingGCPercent: from this many new memo entries on, the
// collector's target is lowered to this.
const (
	manyPuts         = 20000
	fillingGCPercent = 50
)

// worthSaving: a memo is written again when at least 1 in 64 of its MDs
// (or 4096) changed. Each MD changed since costs the next runs its reading
// (about 0.2 ms), a write costs the whole file (100,000 MDs: 100-230 MB),
// and a store where md-staple refreshes some OCSP response every minute
// would otherwise have it written on every run.
func worthSaving(changed, total int64) bool {
	return changed > 0 && (changed*64 >= total || changed >= 4096)
}

// renewalUntil is until when the JSON and metrics of rep stay as they
// are: "renew" turns true at renew-at; a renew-at that is the time of
// reading (an incomplete MD, a missing certificate) follows the clock.
func renewalUntil(rep *Report) int64 {
	switch {
	case rep.RenewAt.IsZero():
		return forever
	case rep.RenewAt.Equal(rep.Now):
		return 0
	case rep.RenewAt.After(rep.Now):
		return rep.RenewAt.UnixNano()
	}
	return forever
}
