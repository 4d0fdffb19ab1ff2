package pool

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStream: every item is worked on once and emitted in order, with no
// more than window items in flight; an emit error stops taking items.
func TestStream(t *testing.T) {
	for _, tc := range []struct{ n, workers, window int }{{0, 2, 4}, {1, 1, 1}, {100, 4, 8}, {1000, 3, 1}, {50, 8, 100}} {
		taken, inFlight, most := 0, atomic.Int64{}, atomic.Int64{}
		var emitted []int
		err := Stream(tc.workers, tc.window, func() (int, bool) {
			if taken == tc.n {
				return 0, false
			}
			taken++
			if f := inFlight.Add(1); f > most.Load() {
				most.Store(f)
			}
			return taken - 1, true
		}, func(int) {}, func(i int) error {
			inFlight.Add(-1)
			emitted = append(emitted, i)
			return nil
		}, nil)
		if err != nil || len(emitted) != tc.n {
			t.Fatalf("%+v: %v, %d emitted", tc, err, len(emitted))
		}
		for i, v := range emitted {
			if v != i {
				t.Fatalf("%+v: emitted %v out of order", tc, emitted[:i+1])
			}
		}
		// the window, the item being emitted and the one next() just returned
		if most.Load() > int64(tc.window)+2 {
			t.Errorf("%+v: %d items in flight", tc, most.Load())
		}
	}
	boom := errors.New("boom")
	taken := 0
	err := Stream(2, 4, func() (int, bool) { taken++; return taken, true }, func(int) {}, func(i int) error {
		if i == 10 {
			return boom
		}
		return nil
	}, nil)
	if !errors.Is(err, boom) || taken > 10+4+2 {
		t.Errorf("emit error: %v after %d taken", err, taken)
	}
}

// TestStreamIdle: while the next item's work is not done, the emitter
// calls idle (here, the work waits for it: without idle it never ends).
func TestStreamIdle(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	items := []int{0, 1}
	done := make(chan error, 1)
	go func() {
		done <- Stream(1, 2, func() (int, bool) {
			if len(items) == 0 {
				return 0, false
			}
			v := items[0]
			items = items[1:]
			return v, true
		}, func(i int) {
			if i == 1 {
				<-release
			}
		}, func(int) error { return nil }, func() { once.Do(func() { close(release) }) })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("idle was not called while an item's work was pending")
	}
}
