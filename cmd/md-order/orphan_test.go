package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/devca"
)

// holdingFront is a TLS reverse proxy in front of a real Pebble (fault
// injection only): while armed, it lets Pebble create an order but holds
// the answer, so that md-order can be killed after the CA created the
// order and before md-order learnt its URL. Pebble builds its URLs from
// the Host header, which the proxy keeps, so every request passes it.
type holdingFront struct {
	srv     *httptest.Server
	armed   atomic.Bool
	created chan struct{}
	stop    chan struct{}
}

func newHoldingFront(t *testing.T, ca *devca.CA) *holdingFront {
	t.Helper()
	target, err := url.Parse(strings.TrimSuffix(ca.DirectoryURL, "/dir"))
	if err != nil {
		t.Fatal(err)
	}
	f := &holdingFront{created: make(chan struct{}, 1), stop: make(chan struct{})}
	rp := &httputil.ReverseProxy{Transport: ca.HTTPClient().Transport, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // Pebble's URLs then point at the proxy
	}}
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path == "/order-plz" && res.StatusCode == http.StatusCreated && f.armed.Load() {
			f.created <- struct{}{}
			select { // until md-order is dead (its connection closed)
			case <-res.Request.Context().Done():
			case <-f.stop:
			}
		}
		return nil
	}
	f.srv = httptest.NewTLSServer(rp)
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: nothing is held at Close
	return f
}

func (f *holdingFront) url() string { return f.srv.URL + "/dir" }

func (f *holdingFront) rootsFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var pebbleAddedOrder = regexp.MustCompile(`(?m)Added order "`)

func pebbleOrders(t *testing.T, ca *devca.CA) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ca.Dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(pebbleAddedOrder.FindAll(data, -1))
}

// TestKillAfterNewOrderAdoptsOrphan: md-order is SIGKILLed after the CA
// created its order and before it could record the order's URL. The next
// run finds that order through the account's orders list and finishes it:
// no second order at the CA (issue 11 item 5).
func TestKillAfterNewOrderAdoptsOrphan(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	front := newHoldingFront(t, ca)
	dir := t.TempDir()
	roots := front.rootsFile(t)
	rec := record([]string{front.url()}, "orphan.test")
	in := jsonl(t, rec)
	args := []string{"--store", dir, "--ca-file", roots, "--http-listen", "127.0.0.1:" + strconv.Itoa(ca.HTTPPort)}

	// Earlier orders of the account fill the first page of its orders
	// list (Pebble lists 3 to a page, oldest first): the orphan is found
	// by following the list's Link rel="next".
	for i := 0; i < 3; i++ {
		if res := runOrder(t, in, append(args, "--force")...); res.code != 0 {
			t.Fatalf("order %d: exit %d error %+v\n%s", i+1, res.code, res.recs[0].Error, res.stderr)
		}
	}
	before := pebbleOrders(t, ca)
	front.armed.Store(true)
	cmd := exec.Command(os.Args[0], append(args, "--force")...) // over the staged set
	cmd.Env = append(os.Environ(), "MDORDER_TEST_AS_MAIN=1")
	cmd.Stdin = strings.NewReader(in)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-front.created:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		t.Fatal("md-order did not create an order")
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	if st := cmd.ProcessState; st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("md-order was not killed: %v", cmd.ProcessState)
	}
	front.armed.Store(false)
	if n := pebbleOrders(t, ca) - before; n != 1 {
		t.Fatalf("%d orders at the CA after the kill; want 1", n)
	}

	res := runOrder(t, in, args...)
	if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionResumed {
		t.Fatalf("after the kill: exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
	}
	assertLogged(t, dir, "orphan.test", "Adopting order")
	if n := pebbleOrders(t, ca) - before; n != 1 {
		t.Errorf("%d orders at the CA after the rerun; want the orphaned one only", n)
	}
}
