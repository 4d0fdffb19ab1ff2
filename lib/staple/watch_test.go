package staple

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
	"github.com/mdtools/mdtools/lib/storewatch"
)

// etcdNodes are n handles (nodes) on one etcd store, each its own client.
func etcdNodes(t *testing.T, n int) []*store.Store {
	t.Helper()
	srv := etcdtest.Start(t)
	var out []*store.Store
	for range n {
		b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet"})
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

func leafPEM(t *testing.T, fx *pebbleFixture, name string) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fx.chains[name][0].Raw})
}

// TestWatchDeploysStoredResponses: node A fetches the OCSP response of an
// MD into an etcd store; node B, in watch mode, deploys it next to its own
// copy of the certificate without asking the responder, but only once its
// deploy set holds that certificate (md-install there may be later than
// the response): until then it leaves the old set alone and tries again.
func TestWatchDeploysStoredResponses(t *testing.T) {
	fx := pebble(t)
	nodes := etcdNodes(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := t.Context()
	recA := fx.install(t, a, "good.test", "good.test")

	// node B: its deploy set still holds another certificate
	deployDir := filepath.Join(t.TempDir(), "good.test")
	if err := os.Mkdir(deployDir, 0o755); err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(deployDir, "cert.pem")
	if err := os.WriteFile(certFile, leafPEM(t, fx, "revoked.test"), 0o644); err != nil {
		t.Fatal(err)
	}
	recB := *recA
	recB.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: deployDir}}
	var mu sync.Mutex
	var emitted []*md.Record
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	rb := &Runner{Store: b, Log: &testLog{}}
	go func() {
		done <- rb.Watch(wctx, WatchOptions{Options: &Options{}, Records: storewatch.Clone([]*md.Record{&recB}),
			Retry: 50 * time.Millisecond, RetryLimit: 200 * time.Millisecond,
			Emit: func(recs []*md.Record) error {
				mu.Lock()
				defer mu.Unlock()
				emitted = append(emitted, recs...)
				return nil
			}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Watch did not stop within 30 s")
		}
	})

	// node A fetches and stores the response
	ra := &Runner{Store: a, Log: &testLog{}}
	if _, err := ra.RunRecords(ctx, []*md.Record{recA}, &Options{}); err != nil || recA.Error != nil {
		t.Fatalf("node A: %v %+v", err, recA.Error)
	}
	stored, ok, err := LoadResponse(ctx, a, "good.test", entry(t, recA, "rsa").ID)
	if err != nil || !ok {
		t.Fatalf("stored response: %v %v", ok, err)
	}
	der, err := stored.DER()
	if err != nil {
		t.Fatal(err)
	}
	requests := fx.responder.Requests.Load()
	ocspFile := filepath.Join(deployDir, "combined.pem.ocsp")
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("node B runs and finds its deploy set holds another certificate", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range emitted {
			if r.Staple != nil && len(r.Staple.Responses) == 1 && r.Staple.Responses[0].Source == "ocsp" {
				return true
			}
		}
		return false
	})
	if _, err := os.Stat(ocspFile); !os.IsNotExist(err) {
		t.Fatalf("response deployed next to another certificate: %v", err)
	}
	// md-install deploys the certificate on node B
	if err := os.WriteFile(certFile, leafPEM(t, fx, "good.test"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("the response deployed on node B", func() bool {
		got, err := os.ReadFile(ocspFile)
		return err == nil && bytes.Equal(got, der)
	})
	if n := fx.responder.Requests.Load() - requests; n != 0 {
		t.Errorf("node B asked the responder %d times; the stored response was fresh", n)
	}
}
