package store

import (
	"errors"
	"testing"
	"time"
)

// TestBatchedSyncs: a Batched view syncs only what it wrote, at most once
// per interval while the run works, always at its end, and again after a
// sync that failed.
func TestBatchedSyncs(t *testing.T) {
	type step struct {
		do    string // "write", "remove", "maybe", "sync", "fail" (the next sync fails)
		calls int    // sync calls so far, after the step
	}
	tests := []struct {
		name  string
		every time.Duration
		steps []step
	}{
		{"nothing written, nothing synced", 0, []step{{"maybe", 0}, {"sync", 0}}},
		{"a removal is not a write", 0, []step{{"remove", 0}, {"maybe", 0}, {"sync", 0}}},
		{"a write is synced at the end, once", time.Hour, []step{{"write", 0}, {"maybe", 0}, {"maybe", 0}, {"sync", 1}, {"sync", 1}}},
		{"every write after a sync is synced again", time.Hour, []step{{"write", 0}, {"sync", 1}, {"write", 1}, {"sync", 2}}},
		{"interval passed: synced while working", 0, []step{{"write", 0}, {"maybe", 1}, {"maybe", 1}, {"write", 1}, {"maybe", 2}}},
		{"a failed sync is tried again", time.Hour, []step{{"write", 0}, {"fail", 1}, {"sync", 2}, {"sync", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			ctx := t.Context()
			if err := s.Write(ctx, GroupStaging, "a.org", "x.txt", []byte("old")); err != nil {
				t.Fatal(err)
			}
			v, y := s.Batched(tt.every)
			calls, fail := 0, false
			y.sync = func() error {
				calls++
				if fail {
					fail = false
					return errors.New("EIO")
				}
				return nil
			}
			for i, st := range tt.steps {
				var err error
				switch st.do {
				case "write":
					err = v.Write(ctx, GroupStaging, "a.org", "x.txt", []byte("new"))
				case "remove":
					err = v.Remove(ctx, GroupStaging, "a.org", "x.txt")
				case "maybe":
					err = y.Maybe()
				case "sync":
					err = y.Sync()
				case "fail":
					fail = true
					if err = y.Sync(); err == nil {
						t.Fatalf("step %d: a failing sync returned no error", i)
					}
					err = nil
				}
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, st.do, err)
				}
				if calls != st.calls {
					t.Fatalf("step %d (%s): %d syncs, want %d", i, st.do, calls, st.calls)
				}
			}
		})
	}
}

// TestBatchedWritesVisible: the view's writes are the store's files at
// once (only their flush to disk is deferred).
func TestBatchedWritesVisible(t *testing.T) {
	s, _ := openTemp(t)
	v, y := s.Batched(time.Hour)
	if err := v.Write(t.Context(), GroupStaging, "a.org", "x.txt", []byte("staged")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(t.Context(), GroupStaging, "a.org", "x.txt")
	if err != nil || string(got) != "staged" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if err := y.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestSyncedView: Synced undoes a Batched view (its writes fsync again and
// no longer mark the view for its Syncer); a plain store is its own.
func TestSyncedView(t *testing.T) {
	s, _ := openTemp(t)
	if s.Synced() != s {
		t.Error("a plain store's Synced is another store")
	}
	v, y := s.Batched(time.Hour)
	calls := 0
	y.sync = func() error { calls++; return nil }
	d := v.Synced()
	if _, deferred := d.Backend().(*deferredFS); deferred {
		t.Fatal("Synced of a Batched view still defers")
	}
	if err := d.Write(t.Context(), GroupStaging, "a.org", "x.txt", []byte("now")); err != nil {
		t.Fatal(err)
	}
	if err := y.Sync(); err != nil || calls != 0 {
		t.Errorf("a synced write left the view dirty: %d syncs, %v", calls, err)
	}
}
