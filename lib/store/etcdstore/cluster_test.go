package etcdstore_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestCluster runs the store on a 3-member cluster: it serves through any
// member; with one member stopped, reads, writes and locks go on (a lock
// taken before keeps its lease); with two stopped, a write fails within
// the request timeout with an error naming etcd and is not half done;
// with the two restarted, the store serves again, everything written
// before is there, and the write succeeds.
func TestCluster(t *testing.T) {
	ctx := t.Context()
	c := etcdtest.StartCluster(t, 3)
	b, err := etcdstore.New(etcdstore.Config{Endpoints: c.Endpoints, Prefix: "/cluster", Node: "web1",
		RequestTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	write := func(name string) error {
		return b.Write(ctx, store.GroupDomains, name, "pubcert.pem", []byte("cert of "+name))
	}
	check := func(name string) {
		t.Helper()
		data, err := b.Read(ctx, store.GroupDomains, name, "pubcert.pem")
		if err != nil || !bytes.Equal(data, []byte("cert of "+name)) {
			t.Errorf("read %s: %q, %v", name, data, err)
		}
	}
	// each member alone answers what was written through all of them
	if err := write("a.test"); err != nil {
		t.Fatal(err)
	}
	for _, ep := range c.Endpoints {
		one, err := etcdstore.New(etcdstore.Config{Endpoints: []string{ep}, Prefix: "/cluster"})
		if err != nil {
			t.Fatal(err)
		}
		if data, err := one.Read(ctx, store.GroupDomains, "a.test", "pubcert.pem"); err != nil || string(data) != "cert of a.test" {
			t.Errorf("member %s: %q, %v", ep, data, err)
		}
		one.Close()
	}
	unlock, err := b.Lock(ctx, "a.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}

	c.Stop(0)
	if err := write("b.test"); err != nil {
		t.Fatalf("write with one member stopped: %v", err)
	}
	check("a.test")
	check("b.test")
	other, err := etcdstore.New(etcdstore.Config{Endpoints: c.Endpoints[1:], Prefix: "/cluster", Node: "web2"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Lock(ctx, "a.test", -1); store.Elsewhere(err) != "web1" {
		t.Errorf("lock held across the member's stop: %v, want held by web1", err)
	}
	unlock()

	c.Stop(1)
	err = write("c.test")
	if err == nil || !strings.Contains(err.Error(), "etcd store etcd://") || errors.Is(err, store.ErrLocked) {
		t.Errorf("write with two of three stopped: %v, want an etcd error", err)
	}
	c.Restart(t, 0, 1)
	check("a.test")
	check("b.test")
	if _, err := b.Read(ctx, store.GroupDomains, "c.test", "pubcert.pem"); err == nil {
		// the failed write may have been committed after all (etcd had
		// it when the quorum came back): whole then, never partial
		check("c.test")
	}
	if err := write("c.test"); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	check("c.test")
}
