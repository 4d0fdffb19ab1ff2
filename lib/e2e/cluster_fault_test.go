package e2e

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// vaHold holds Pebble's first validation request once armed, until
// released: the ordering node is then between placing the order and
// finalizing it.
type vaHold struct {
	mu               sync.Mutex
	armed            bool
	arrived, release chan struct{}
}

func (v *vaHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		hold := v.armed
		v.armed = false
		v.mu.Unlock()
		if hold {
			close(v.arrived)
			select {
			case <-v.release:
			case <-r.Context().Done():
			}
		}
		next.ServeHTTP(w, r)
	})
}

// TestFleetOrderingNodeKilled: the node ordering an MD is killed
// (SIGKILL) while Pebble validates its challenge; until the dead node's
// lock lease ends (MD_STORE_LOCK_TTL=3s here) another node reports the
// MD in progress on it, then takes the staged order over and finishes it
// without a second order at Pebble; every node then serves it.
func TestFleetOrderingNodeKilled(t *testing.T) {
	hold := &vaHold{arrived: make(chan struct{}), release: make(chan struct{})}
	f := startFleetWith(t, 1, hold.wrap, "MD_STORE_LOCK_TTL=3s")
	hold.mu.Lock()
	hold.armed = true
	hold.mu.Unlock()
	web1, web2 := f.nodes[0], f.nodes[1]
	parse, err := web1.run(nil, "md-parse", web1.conf)
	if err != nil || parse.code != 0 {
		t.Fatalf("md-parse on web1: %v %s", err, parse.stderr)
	}
	cmd := exec.Command(filepath.Join(binDir, "md-order"))
	cmd.Stdin = bytes.NewReader(parse.stdout)
	cmd.Env = append(os.Environ(), web1.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-hold.arrived:
	case err := <-exited:
		t.Fatalf("md-order on web1 ended before Pebble validated: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("Pebble did not validate within two minutes")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	orders := pebbleOrders(t, f.log)
	close(hold.release)

	var action string
	inProgress := 0
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		r := web2.cycle()
		r.ok(t)
		recs := r.order.records(t)
		for _, rec := range recs {
			if rec.Name == f.names[0] {
				action = rec.Order.Action
			}
		}
		if action != "in-progress" {
			break
		}
		inProgress++
		if time.Now().After(deadline) {
			t.Fatalf("%s still in progress on the dead node after two minutes", f.names[0])
		}
	}
	t.Logf("web2 saw the MD in progress on the dead node %d times, then: %s", inProgress, action)
	if action != "resumed" {
		t.Errorf("web2's md-order on the dead node's order: %s; want resumed", action)
	}
	if n := pebbleOrders(t, f.log); n != orders {
		t.Errorf("Pebble has %d orders, had %d when the node died; want the staged order finished", n, orders)
	}
	for _, r := range f.all() {
		r.ok(t)
	}
	f.checkServed(t)
}

// TestFleetInstallingNodeKilled: the node activating an MD is killed
// (SIGKILL, with its reload command) while it reloads its server, after
// the activation in the store; the next runs on every node (the killed
// one too, once its lock lease ends) deploy and serve the certificate the
// fleet ordered (web1 too), and nothing is ordered again.
func TestFleetInstallingNodeKilled(t *testing.T) {
	f := startFleetWith(t, 1, nil, "MD_STORE_LOCK_TTL=3s")
	web1 := f.nodes[0]
	parse, err := web1.run(nil, "md-parse", web1.conf)
	if err != nil || parse.code != 0 {
		t.Fatalf("md-parse on web1: %v %s", err, parse.stderr)
	}
	order, err := web1.run(parse.stdout, "md-order")
	if err != nil || order.code != 0 {
		t.Fatalf("md-order on web1: %v %s", err, order.stderr)
	}
	var want string
	for _, rec := range order.records(t) {
		if rec.Name == f.names[0] && rec.Order.Action == "ordered" && len(rec.Order.Certs) == 1 {
			want = rec.Order.Certs[0].SHA256
		}
	}
	if want == "" {
		t.Fatalf("md-order on web1 did not order %s: %s", f.names[0], order.stdout)
	}
	orders := pebbleOrders(t, f.log)
	dir := t.TempDir()
	mark := filepath.Join(dir, "reloading")
	reload := filepath.Join(dir, "reload")
	writeFile(t, reload, "#!/bin/sh\n: > "+mark+"\nexec sleep 600\n")
	if err := os.Chmod(reload, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "md-install"), "--reload-cmd", reload)
	cmd.Stdin = bytes.NewReader(order.stdout)
	cmd.Env = append(os.Environ(), web1.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("md-install on web1 ended before reloading: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("md-install on web1 did not reload within two minutes")
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited

	// every node, the killed one included, until none finds the MD in
	// progress on the dead run: on other nodes "in-progress", on web1
	// itself (the lock names this node) "locked", exit 3, as for another
	// run on the node, until the dead run's lease ends
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		busy := false
		for _, r := range f.all() {
			if r.host == web1 && r.err == nil && (r.order.code == 3 || r.install.code == 3) &&
				strings.Contains(r.order.stderr+r.install.stderr, "locked by another run") {
				busy = true
				continue
			}
			r.ok(t)
			for _, rec := range r.install.records(t) {
				busy = busy || rec.Install.Action == "in-progress"
			}
		}
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still in progress on the dead run after two minutes")
		}
	}
	if n := pebbleOrders(t, f.log); n != orders {
		t.Errorf("Pebble has %d orders, had %d when the node died", n, orders)
	}
	f.checkServed(t)
	conn, err := tls.Dial("tcp", web1.https, &tls.Config{ServerName: f.names[0], RootCAs: f.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := fingerprint(conn.ConnectionState().PeerCertificates[0]); got != want {
		t.Errorf("web1 serves %s; want %s, the certificate ordered before the kill", got, want)
	}
}
