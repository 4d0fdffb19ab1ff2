package etcdstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestLockHeldElsewhere: a lock another node holds is an ElsewhereError
// naming that node (and still ErrLocked); one held by another handle of
// the same node, or by a holder that names no node, is a plain ErrLocked;
// once released, the lock is free again and names its new holder.
func TestLockHeldElsewhere(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	node := func(name string) *etcdstore.Backend {
		b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/nodes", Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	web1, web2, web1b, anon := node("web1"), node("web2"), node("web1"), node("")
	for _, lock := range []string{"a.test", ""} {
		unlock, err := web1.Lock(ctx, lock, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			who  string
			b    *etcdstore.Backend
			wait time.Duration
			want string // the node Elsewhere reports
		}{
			{"another node, once", web2, -1, "web1"},
			{"another node, waiting", web2, 50 * time.Millisecond, "web1"},
			{"the same node", web1b, -1, ""},
			{"a handle without a node name", anon, -1, "web1"},
		} {
			_, err := tc.b.Lock(ctx, lock, tc.wait)
			if !errors.Is(err, store.ErrLocked) || store.Elsewhere(err) != tc.want {
				t.Errorf("lock %q, %s: %v (elsewhere %q), want ErrLocked, elsewhere %q", lock, tc.who, err, store.Elsewhere(err), tc.want)
			}
			if tc.want != "" && !strings.Contains(err.Error(), "in progress on node web1") {
				t.Errorf("lock %q, %s: message %q", lock, tc.who, err)
			}
		}
		unlock()
		unlock2, err := anon.Lock(ctx, lock, time.Second)
		if err != nil {
			t.Fatalf("after release: %v", err)
		}
		if _, err := web2.Lock(ctx, lock, -1); !errors.Is(err, store.ErrLocked) || store.Elsewhere(err) != "" {
			t.Errorf("lock %q held by a handle without a node name: %v, want a plain ErrLocked", lock, err)
		}
		unlock2()
	}
}
