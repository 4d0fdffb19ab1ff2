package pool

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestOrdered: every index is worked on once, emitted in order, with no
// more than workers calls at once and no more than window ahead.
func TestOrdered(t *testing.T) {
	for _, tc := range []struct{ n, workers, window int }{
		{0, 4, 0}, {1, 4, 0}, {7, 1, 0}, {100, 4, 0}, {100, 8, 3}, {50, 3, 1}, {5, 20, 0},
	} {
		var running, most atomic.Int64
		calls := make([]atomic.Int64, tc.n)
		var emitted []int
		err := Ordered(tc.n, tc.workers, tc.window, func(i int) {
			r := running.Add(1)
			for {
				m := most.Load()
				if r <= m || most.CompareAndSwap(m, r) {
					break
				}
			}
			if i%3 == 0 {
				time.Sleep(time.Millisecond) // finish out of order
			}
			calls[i].Add(1)
			running.Add(-1)
		}, func(i int) error {
			emitted = append(emitted, i) // emit calls never overlap
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(emitted) != tc.n {
			t.Errorf("%+v: emitted %d of %d", tc, len(emitted), tc.n)
		}
		for i, e := range emitted {
			if e != i {
				t.Fatalf("%+v: emitted %v, want input order", tc, emitted)
			}
			if c := calls[i].Load(); c != 1 {
				t.Errorf("%+v: index %d worked on %d times", tc, i, c)
			}
		}
		if m := most.Load(); m > int64(max(1, tc.workers)) {
			t.Errorf("%+v: %d calls at once, want at most %d", tc, m, tc.workers)
		}
	}
}

// TestOrderedWindow: work never starts more than window indexes past the
// oldest one not yet emitted, even when that one is slow.
func TestOrderedWindow(t *testing.T) {
	const window = 3
	var emitted atomic.Int64
	release := make(chan struct{})
	var ahead atomic.Int64
	go func() { time.Sleep(20 * time.Millisecond); close(release) }()
	err := Ordered(40, 8, window, func(i int) {
		if i == 0 {
			<-release // the oldest index is slow
		}
		if d := int64(i) - emitted.Load(); d > ahead.Load() {
			ahead.Store(d)
		}
	}, func(i int) error {
		emitted.Store(int64(i) + 1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := ahead.Load(); a >= window {
		t.Errorf("work ran %d indexes ahead of the oldest not emitted, window %d", a, window)
	}
}

// TestOrderedStops: an emit error starts nothing more and is returned.
func TestOrderedStops(t *testing.T) {
	boom := errors.New("stdout closed")
	var started atomic.Int64
	err := Ordered(1000, 2, 4, func(int) { started.Add(1) }, func(i int) error {
		if i == 5 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want %v", err, boom)
	}
	if s := started.Load(); s > 5+1+4+2 {
		t.Errorf("%d indexes started after emit failed at 5", s)
	}
}

// TestEach: every index once, also with one worker.
func TestEach(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 64} {
		seen := make([]atomic.Int64, 200)
		Each(len(seen), workers, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("workers %d: index %d seen %d times", workers, i, seen[i].Load())
			}
		}
	}
}
