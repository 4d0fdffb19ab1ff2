package etcdstore_test

import (
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLockWaiterNamed: a node waiting for a lock names itself in its
// mutex key from the start, so that when it becomes the holder a third
// node finds the lock held by a named node at once (the name used to be
// written after taking the lock: in between, a third node whose wait
// ended got a plain "locked", exit 3, in a healthy fleet; TestFleet saw
// it). When the first holder releases, the waiter holds the lock and a
// third node's failed attempt names it.
func TestLockWaiterNamed(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	node := func(name string) *etcdstore.Backend {
		b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/w", Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	web1, web2, web3 := node("web1"), node("web2"), node("web3")
	unlock1, err := web1.Lock(ctx, "a.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		unlock, err := web2.Lock(ctx, "a.test", time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- unlock
	}()
	var kvs []string
	for deadline := time.Now().Add(30 * time.Second); len(kvs) < 2; time.Sleep(10 * time.Millisecond) {
		resp, err := web3.Client().Get(ctx, "/w/locks/a.test/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		if err != nil {
			t.Fatal(err)
		}
		kvs = kvs[:0]
		for _, kv := range resp.Kvs {
			kvs = append(kvs, string(kv.Value))
		}
		if time.Now().After(deadline) {
			t.Fatalf("web2 is not waiting within 30 s: keys %q", kvs)
		}
	}
	if kvs[0] != "web1" || kvs[1] != "web2" {
		t.Errorf("mutex keys in creation order hold %q; want [web1 web2]", kvs)
	}
	unlock1()
	unlock2 := <-got
	if unlock2 == nil {
		t.FailNow()
	}
	if _, err := web3.Lock(ctx, "a.test", 50*time.Millisecond); store.Elsewhere(err) != "web2" {
		t.Errorf("web3 after the handover: %v; want held by web2", err)
	}
	unlock2()
}
