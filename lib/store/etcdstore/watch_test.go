package etcdstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// next is the next event, or a failure after a generous deadline.
func next(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30 s")
	}
	return store.Event{}
}

// TestWatch: a watch on one handle reports, in order, what another handle
// (another node) does to the group: a Resync first, then every file written,
// removed, purged and moved in or out; changes to other groups and other
// stores under another prefix are not reported; the channel closes when the
// context ends.
func TestWatch(t *testing.T) {
	srv := etcdtest.Start(t)
	watcher := open(t, srv, "/w", "")
	writer := open(t, srv, "/w", "")
	other := open(t, srv, "/w2", "")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := watcher.Watch(ctx, store.GroupChallenges)
	if err != nil {
		t.Fatal(err)
	}
	if e := next(t, ch); !e.Resync {
		t.Fatalf("first event %+v, want a Resync", e)
	}
	wctx := t.Context()
	steps := []struct {
		do   func() error
		want []store.Event
	}{
		{func() error {
			return writer.Write(wctx, store.GroupChallenges, "a.org", store.FileHTTP01, []byte("tok.thumb"))
		},
			[]store.Event{{Name: "a.org", File: store.FileHTTP01}}},
		{func() error { return other.Write(wctx, store.GroupChallenges, "b.org", store.FileHTTP01, []byte("x")) }, nil},
		{func() error { return writer.Write(wctx, store.GroupDomains, "a.org", "md.json", []byte("{}")) }, nil},
		{func() error { return writer.Remove(wctx, store.GroupChallenges, "a.org", store.FileHTTP01) },
			[]store.Event{{Name: "a.org", File: store.FileHTTP01, Deleted: true}}},
		{func() error { return writer.Write(wctx, store.GroupTmp, "c.org", "x.pem", []byte("x")) }, nil},
		{func() error { return writer.Move(wctx, store.GroupTmp, "c.org", store.GroupChallenges, "c.org") },
			[]store.Event{{Name: "c.org", File: "x.pem"}}},
		{func() error { return writer.Purge(wctx, store.GroupChallenges, "c.org") },
			[]store.Event{{Name: "c.org", File: "x.pem", Deleted: true}}},
		// a marker: everything before it has been reported by now
		{func() error { return writer.Write(wctx, store.GroupChallenges, "end.org", "f", []byte("x")) },
			[]store.Event{{Name: "end.org", File: "f"}}},
	}
	var want []store.Event
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		want = append(want, s.want...)
	}
	for i, w := range want {
		if e := next(t, ch); e != w {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	cancel()
	for range ch { // must close
	}
}

// TestWatchBadGroup: a group name that is not one is refused.
func TestWatchBadGroup(t *testing.T) {
	srv := etcdtest.Start(t)
	b := open(t, srv, "/w", "")
	if _, err := b.Watch(t.Context(), store.Group("../x")); err == nil {
		t.Error("Watch(../x) succeeded")
	}
}
