package install

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// etcdNodes are n handles (nodes) on one etcd store, each its own client,
// all with the same node key.
func etcdNodes(t *testing.T, n int) []*store.Store {
	t.Helper()
	srv := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out []*store.Store
	for range n {
		b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet", KeyFile: keyFile})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		st, err := store.OpenBackend(t.Context(), b, b.String())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// watching runs Watch in the background until the test ends; it returns
// the records emitted so far, on demand.
func watching(t *testing.T, wo WatchOptions) func() []*md.Record {
	t.Helper()
	var mu sync.Mutex
	var emitted []*md.Record
	wo.Emit = func(recs []*md.Record) error {
		mu.Lock()
		defer mu.Unlock()
		emitted = append(emitted, recs...)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, wo) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch ended with %v; want nil when stopped", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Watch did not stop within 30 s of its context ending")
		}
	})
	return func() []*md.Record {
		mu.Lock()
		defer mu.Unlock()
		return append([]*md.Record(nil), emitted...)
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deployedLeaf reports whether dir/name/cert.pem is the leaf of creds.
func deployedLeaf(dir, name string, c stagedCred) bool {
	b, err := os.ReadFile(filepath.Join(dir, name, c.spec.FileName("cert")))
	if err != nil {
		return false
	}
	chain, err := store.ParseChainPEM(b)
	return err == nil && len(chain) == 1 && bytes.Equal(chain[0].Raw, c.chain[0].Raw)
}

// TestWatchDeploysActivations: node B runs md-install in watch mode over
// an etcd store; node A activates certificates. B deploys the live set at
// start (catch-up), then each new activation of A within seconds, runs its
// reload command each time, and leaves alone the MDs it does not serve.
func TestWatchDeploysActivations(t *testing.T) {
	nodes := etcdNodes(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := t.Context()
	activate := func(rec *md.Record) []stagedCred {
		t.Helper()
		creds := freshCreds(t, rec)
		stageSet(t, a, rec, creds)
		if err := Run(ctx, Options{Store: a, NoVerify: true}, []*md.Record{rec}); err != nil || rec.Error != nil {
			t.Fatalf("activating on node A: %v %+v", err, rec.Error)
		}
		return creds
	}
	first := activate(testRecord("w.test", md.KeySpecs{ecSpec}))

	deployDir := filepath.Join(t.TempDir(), "certs")
	reloads := filepath.Join(t.TempDir(), "reloads")
	mine := testRecord("w.test", md.KeySpecs{ecSpec})
	mine.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deployDir, "w.test")}}
	emitted := watching(t, WatchOptions{
		Options: Options{Store: b, NoVerify: true, LockWait: 5 * time.Second,
			ReloadCmd: []string{"/bin/sh", "-c", "echo reload >> " + reloads}},
		Records: Clone([]*md.Record{mine}),
	})
	waitFor(t, "catch-up deploy of the first certificate", func() bool { return deployedLeaf(deployDir, "w.test", first[0]) })

	activate(testRecord("other.test", md.KeySpecs{ecSpec}))
	second := activate(testRecord("w.test", md.KeySpecs{ecSpec}))
	waitFor(t, "deploy of the second certificate", func() bool { return deployedLeaf(deployDir, "w.test", second[0]) })
	waitFor(t, "two reloads", func() bool {
		b, _ := os.ReadFile(reloads)
		return strings.Count(string(b), "reload\n") == 2
	})
	for _, r := range emitted() {
		if r.Name != "w.test" {
			t.Errorf("watch mode installed %s, which this node does not serve", r.Name)
		}
		if r.Error != nil {
			t.Errorf("%s: %+v", r.Name, r.Error)
		}
	}
}

// TestWatchRetriesLockedMD: an activation seen while another run holds the
// MD's lock is retried once the lock is free.
func TestWatchRetriesLockedMD(t *testing.T) {
	nodes := etcdNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := t.Context()
	unlockC, err := c.Lock(ctx, "r.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	unlock := sync.OnceFunc(unlockC)
	defer unlock()

	deployDir := filepath.Join(t.TempDir(), "certs")
	mine := testRecord("r.test", md.KeySpecs{ecSpec})
	mine.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deployDir, "r.test")}}
	emitted := watching(t, WatchOptions{
		Options: Options{Store: b, NoVerify: true, LockWait: 100 * time.Millisecond},
		Records: Clone([]*md.Record{mine}), Retry: 50 * time.Millisecond,
	})
	// a live set appears (as an activation under c's lock would make it)
	rec := testRecord("r.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	stageSet(t, a, rec, creds)
	if err := a.Move(ctx, store.GroupStaging, "r.test", store.GroupDomains, "r.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a run that found r.test locked", func() bool {
		for _, r := range emitted() {
			if r.Error != nil && r.Error.Problem == "install-locked" {
				return true
			}
		}
		return false
	})
	if deployedLeaf(deployDir, "r.test", creds[0]) {
		t.Fatal("deployed while another run held the lock")
	}
	unlock()
	waitFor(t, "deploy after the lock was released", func() bool { return deployedLeaf(deployDir, "r.test", creds[0]) })
}

// TestWatchNeedsWatchableStore: a store in a local directory cannot be
// watched; Watch says so at once.
func TestWatchNeedsWatchableStore(t *testing.T) {
	st, _ := openStore(t)
	err := Watch(t.Context(), WatchOptions{Options: Options{Store: st}, Records: Clone(nil),
		Emit: func([]*md.Record) error { return nil }})
	if !errors.Is(err, ErrNotWatchable) || !strings.Contains(err.Error(), "etcd://") {
		t.Errorf("Watch on a directory store: %v; want ErrNotWatchable naming etcd://", err)
	}
}
