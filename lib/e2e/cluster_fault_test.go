package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitOrders waits until Pebble's log has more than n orders (the
// fleet's run has placed one); it fails the test after two minutes.
func (f *fleet) waitOrders(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); pebbleOrders(t, f.log) <= n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new order at Pebble within two minutes (%d)", n)
		}
	}
}

// orderedOnce fails the test unless each of the fleet's MDs was ordered
// by exactly one node in runs and Pebble has one order per MD.
func (f *fleet) orderedOnce(t *testing.T, runs []nodeRun) {
	t.Helper()
	by := orderedBy(t, runs)
	for _, n := range f.names {
		if len(by[n]) != 1 {
			t.Errorf("%s ordered by %v; want exactly one node", n, by[n])
		}
	}
	if n := pebbleOrders(t, f.log); n != len(f.names)+1 {
		t.Errorf("Pebble has %d orders for %d MDs", n, len(f.names)+1)
	}
}

// TestFleetEtcdMemberDies: the etcd member that leads is stopped while
// the fleet's nodes order (at Pebble's first order of the run): every
// stage still exits 0, each MD is ordered once, and after the next run
// every node serves every certificate.
func TestFleetEtcdMemberDies(t *testing.T) {
	f := startFleet(t, 9)
	before := pebbleOrders(t, f.log)
	done := make(chan []nodeRun)
	go func() { done <- f.all() }()
	f.waitOrders(t, before)
	leader := f.etcd.Leader()
	if leader < 0 {
		t.Fatal("no etcd leader")
	}
	f.etcd.Stop(leader)
	runs := <-done
	for _, r := range runs {
		r.ok(t)
	}
	f.orderedOnce(t, runs)
	for _, r := range f.all() {
		r.ok(t)
	}
	f.checkServed(t)
}

// TestFleetQuorumLost: with two of the three etcd members stopped, every
// node's run fails at its first stage with an error naming the etcd
// store, exit non-zero; nothing is ordered and nothing deployed. With the
// two restarted, the next run orders each MD once and every node serves
// every certificate.
func TestFleetQuorumLost(t *testing.T) {
	f := startFleet(t, 6)
	before := pebbleOrders(t, f.log)
	f.etcd.Stop(1)
	f.etcd.Stop(2)
	for _, r := range f.all() {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.parse.code == 0 || len(r.parse.stdout) != 0 || !strings.Contains(r.parse.stderr, "etcd store etcd://") {
			t.Errorf("%s: md-parse without quorum: exit %d, stdout %q\n%s", r.host.name, r.parse.code, r.parse.stdout, r.parse.stderr)
		}
	}
	if n := pebbleOrders(t, f.log); n != before {
		t.Errorf("Pebble has %d orders, had %d", n, before)
	}
	for _, h := range f.nodes {
		for _, n := range f.names {
			if _, err := os.Stat(filepath.Join(h.deploy, n)); !os.IsNotExist(err) {
				t.Errorf("%s: %s deployed without quorum: %v", h.name, n, err)
			}
		}
	}
	f.etcd.Restart(t, 1, 2)
	runs := f.all()
	for _, r := range runs {
		r.ok(t)
	}
	f.orderedOnce(t, runs)
	for _, r := range f.all() {
		r.ok(t)
	}
	f.checkServed(t)
}
