package storewatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestBackoff: a failing MD waits Retry, then twice as long each time up
// to RetryLimit; a success clears it.
func TestBackoff(t *testing.T) {
	w := &watcher{o: Options{Retry: time.Second, RetryLimit: 5 * time.Second, Log: nopLog{}},
		due: map[string]time.Time{}, backoff: map[string]time.Duration{}}
	now := time.Unix(1000, 0)
	steps := []struct {
		failed bool
		want   time.Duration // 0: not due
	}{
		{true, time.Second}, {true, 2 * time.Second}, {true, 4 * time.Second}, {true, 5 * time.Second},
		{true, 5 * time.Second}, {false, 0}, {true, time.Second},
	}
	for i, s := range steps {
		w.schedule("a.test", s.failed, now)
		got, ok := w.due["a.test"]
		switch {
		case s.want == 0 && ok:
			t.Errorf("step %d: still due at %v after a success", i, got)
		case s.want != 0 && (!ok || got.Sub(now) != s.want):
			t.Errorf("step %d: due after %v; want %v", i, got.Sub(now), s.want)
		}
	}
	if names := w.dueNames(now.Add(time.Second)); len(names) != 1 || names[0] != "a.test" {
		t.Errorf("dueNames = %v", names)
	}
	if w.nextRetry() != nil {
		t.Error("a retry is pending after dueNames took the only one")
	}
}

// TestClone: each call gives new records, equal to the originals.
func TestClone(t *testing.T) {
	recs := []*md.Record{{MD: md.MD{Name: "a.test", Domains: []string{"a.test"}}}}
	get := Clone(recs)
	c1, err := get(context.Background())
	if err != nil || len(c1) != 1 || c1[0].Name != "a.test" || c1[0] == recs[0] {
		t.Fatalf("Clone: %v %+v", err, c1)
	}
	c1[0].Name = "changed"
	if c2, _ := get(context.Background()); c2[0].Name != "a.test" {
		t.Errorf("a change to one copy shows in the next: %q", c2[0].Name)
	}
}

// TestNotWatchable: a directory store is refused at once.
func TestNotWatchable(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = Run(t.Context(), Options{Store: st, Groups: []store.Group{store.GroupOCSP}})
	if !errors.Is(err, ErrNotWatchable) {
		t.Errorf("Run on a directory store: %v", err)
	}
}

type nopLog struct{}

func (nopLog) Infof(string, ...any)  {}
func (nopLog) Debugf(string, ...any) {}
func (nopLog) Warnf(string, ...any)  {}

// TestGraceful: a stop does not cut a round short at once; the round's
// context ends only after the grace (or when the round is done).
func TestGraceful(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	sctx, done := graceful(ctx, time.Hour)
	stop()
	if sctx.Err() != nil {
		t.Fatal("a stop cut the round at once")
	}
	done()
	if sctx.Err() == nil {
		t.Error("done did not release the round's context")
	}

	ctx, stop = context.WithCancel(context.Background())
	defer stop()
	sctx, done = graceful(ctx, time.Millisecond)
	defer done()
	stop()
	select {
	case <-sctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the grace did not end the round")
	}
}
