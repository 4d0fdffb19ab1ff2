package acmeflow

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Process holds one of Jobs places while it works on an MD, and gives it
// up while it waits aside for a renewalInfo answer, among at most ARIJobs
// such waits: with every wait held until ARIJobs wait at once, that many
// do, while Jobs others still work.
func TestSlotsWaitAside(t *testing.T) {
	for _, tc := range []struct{ jobs, ari int }{{1, 4}, {2, 3}, {3, 1}} {
		r := &Runner{Jobs: tc.jobs, ARIJobs: tc.ari}
		if got := r.Workers(); got != tc.jobs+tc.ari {
			t.Fatalf("Workers() = %d; want %d", got, tc.jobs+tc.ari)
		}
		var working, waiting, maxWorking, maxWaiting atomic.Int64
		note := func(n *atomic.Int64, m *atomic.Int64, d int64) {
			v := n.Add(d)
			for old := m.Load(); v > old && !m.CompareAndSwap(old, v); old = m.Load() {
			}
		}
		full := make(chan struct{}) // closed once ari waits are under way
		var once sync.Once
		var wg sync.WaitGroup
		const mds = 20
		for i := range mds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				leave := r.enter()
				defer leave()
				note(&working, &maxWorking, 1)
				note(&working, &maxWorking, -1)
				r.aside(func() {
					if note(&waiting, &maxWaiting, 1); waiting.Load() == int64(tc.ari) {
						once.Do(func() { close(full) })
					}
					if i < tc.ari { // these hold until the waits are full
						select {
						case <-full:
						case <-time.After(30 * time.Second): // only a broken aside gets here
							t.Errorf("-j %d --ari-jobs %d: the waits never filled", tc.jobs, tc.ari)
						}
					}
					note(&waiting, &maxWaiting, -1)
				})
				note(&working, &maxWorking, 1)
				note(&working, &maxWorking, -1)
			}()
		}
		wg.Wait()
		if maxWorking.Load() > int64(tc.jobs) || maxWaiting.Load() != int64(tc.ari) {
			t.Errorf("-j %d --ari-jobs %d: %d worked and %d waited at once; want at most %d and %d",
				tc.jobs, tc.ari, maxWorking.Load(), maxWaiting.Load(), tc.jobs, tc.ari)
		}
	}
}

// Requests to one CA's renewalInfo start at least 1/ariRate apart, however
// many wait for their turn at once (sleeps give a lower bound, so this
// cannot flake on a slow machine).
func TestARIPace(t *testing.T) {
	var e caEntry
	const n = 41
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.ariPace(t.Context()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if el, want := time.Since(start), (n-1)*time.Second/ariRate; el < want {
		t.Errorf("%d turns took %v; want at least %v", n, el, want)
	}
}
