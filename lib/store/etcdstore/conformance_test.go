package etcdstore_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
	"github.com/mdtools/mdtools/lib/store/storetest"
)

// nodeKey writes a node key file for the test and returns its path.
func nodeKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(p, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// open connects a new handle to srv's store under prefix.
func open(t *testing.T, srv *etcdtest.Server, prefix, keyFile string) *etcdstore.Backend {
	t.Helper()
	b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: prefix, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestEtcdConformance runs the backend conformance suite on the etcd
// backend against one real etcd server: every store is a fresh prefix,
// every handle a new client. The link tests do not apply (etcd has no
// links); the handle-close tests do.
func TestEtcdConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	key := nodeKey(t)
	var n atomic.Int64
	h := storetest.Harness{
		New: func(t *testing.T) func() store.Backend {
			prefix := "/conformance/" + itoa(n.Add(1))
			return func() store.Backend { return open(t, srv, prefix, key) }
		},
	}
	storetest.Run(t, h)
	storetest.RunClose(t, h)
}

func itoa(n int64) string {
	return string(rune('a'+n%26)) + string(rune('a'+n/26%26))
}
