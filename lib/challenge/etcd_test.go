package challenge

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// etcdNodes are n handles (nodes) on one etcd store, each its own client,
// all with the same node key file.
func etcdNodes(t testing.TB, srv *etcdtest.Server, n int) []*store.Store {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out []*store.Store
	for range n {
		b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet",
			KeyFile: keyFile, RequestTimeout: 3 * time.Second})
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

// startServers starts http-01 and tls-alpn-01 responders over st on the
// given addresses (kernel-chosen ports when "127.0.0.1:0").
func startServers(t *testing.T, st *store.Store, httpAddr, tlsAddr string) *Servers {
	t.Helper()
	s := NewServers(st, nil)
	t.Cleanup(func() { s.Close() })
	if err := s.StartHTTP(httpAddr); err != nil {
		t.Fatal(err)
	}
	if err := s.StartTLS(tlsAddr); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// getHTTP01 asks s for host's http-01 challenge of token.
func getHTTP01(s *Servers, host, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr().String()+WellKnownPrefix+token, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// dialTLSALPN does an acme-tls/1 handshake with s for host and returns the
// name the challenge certificate is for.
func dialTLSALPN(s *Servers, host string) (string, error) {
	d := &tls.Dialer{Config: &tls.Config{ServerName: host, NextProtos: []string{ACMETLS1}, InsecureSkipVerify: true}}
	c, err := d.DialContext(context.Background(), "tcp", s.TLSAddr().String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 || len(certs[0].DNSNames) != 1 {
		return "", fmt.Errorf("challenge certificate names nothing")
	}
	return certs[0].DNSNames[0], nil
}

// TestServeWatchesEtcd: two responders (two nodes) over one etcd store
// take up the challenge data a third node sets up, through the store's
// watch: both hold it in memory and answer it even once etcd is gone;
// challenges the third node tears down are dropped by both.
func TestServeWatchesEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	nodes := etcdNodes(t, srv, 3)
	a := startServers(t, nodes[0], "127.0.0.1:0", "127.0.0.1:0")
	b := startServers(t, nodes[1], "127.0.0.1:0", "127.0.0.1:0")
	m := newManager(t, nodes[2], Options{NoListen: true})
	ctx := t.Context()

	alpn := testRecord("alpn.test")
	alpn.Proto.ACMETLS1 = []string{"alpn.test"}
	tasks := []struct {
		rec  *md.Record
		task Task
	}{
		{testRecord("web.test"), Task{Type: HTTP01, Domain: "web.test", Token: testToken, KeyAuth: testKeyAuth}},
		{testRecord("gone.test"), Task{Type: HTTP01, Domain: "gone.test", Token: testToken, KeyAuth: testKeyAuth}},
		{alpn, Task{Type: TLSALPN01, Domain: "alpn.test", Token: testToken, KeyAuth: testKeyAuth}},
	}
	for _, tc := range tasks {
		if err := m.Setup(ctx, tc.rec, tc.task); err != nil {
			t.Fatalf("setup %s: %v", tc.task, err)
		}
	}
	if err := m.Teardown(ctx, tasks[1].rec, tasks[1].task); err != nil {
		t.Fatal(err)
	}
	for i, s := range []*Servers{a, b} {
		waitFor(t, fmt.Sprintf("node %d caching web.test and alpn.test, dropping gone.test", i), func() bool {
			_, web := s.cache.httpAnswer("web.test", testToken)
			_, gone := s.cache.httpAnswer("gone.test", testToken)
			_, alpnOK := s.cache.tlsCerts("alpn.test")
			return web && alpnOK && !gone
		})
	}
	// etcd goes away: the responders answer from what the watch brought
	srv.Stop()
	for i, s := range []*Servers{a, b} {
		code, body, err := getHTTP01(s, "web.test", testToken)
		if err != nil || code != http.StatusOK || body != testKeyAuth {
			t.Errorf("node %d: http-01 web.test without etcd: %d %q %v; want 200 %q", i, code, body, err, testKeyAuth)
		}
		if name, err := dialTLSALPN(s, "alpn.test"); err != nil || name != "alpn.test" {
			t.Errorf("node %d: tls-alpn-01 alpn.test without etcd: %q, %v", i, name, err)
		}
	}
}

// TestServeEtcdMissFallsBackToStore: a request the cache cannot answer
// (a token other than the cached one) is answered from the store, so a
// CA faster than the watch still gets the current challenge.
func TestServeEtcdMissFallsBackToStore(t *testing.T) {
	srv := etcdtest.Start(t)
	nodes := etcdNodes(t, srv, 2)
	a := startServers(t, nodes[0], "127.0.0.1:0", "127.0.0.1:0")
	if err := nodes[1].Write(t.Context(), store.GroupChallenges, "web.test", store.FileHTTP01, []byte("other."+testThumb)); err != nil {
		t.Fatal(err)
	}
	code, body, err := getHTTP01(a, "web.test", testToken)
	if err != nil || code != http.StatusOK || body != "other."+testThumb {
		t.Errorf("http-01 web.test: %d %q %v; want 200 from the store", code, body, err)
	}
}

// TestEtcdOrderAnsweredByOtherNode: a real Pebble order where the
// ordering node answers nothing itself: it writes the challenge into the
// etcd store, and Pebble's validation reaches another node's responder
// (on Pebble's httpPort and tlsPort), which answers from the store.
func TestEtcdOrderAnsweredByOtherNode(t *testing.T) {
	env := newACME(t, devca.Options{})
	srv := etcdtest.Start(t)
	nodes := etcdNodes(t, srv, 2)
	startServers(t, nodes[1], env.httpAddr(), env.tlsAddr())
	orderer := newManager(t, nodes[0], Options{NoListen: true})
	alpn := testRecord("alpn.fleet.test")
	alpn.Proto.ACMETLS1 = alpn.Domains
	tests := []struct {
		name string
		rec  *md.Record
		want string
	}{
		{"http-01", testRecord("web.fleet.test", "www.web.fleet.test"), HTTP01},
		{"tls-alpn-01", alpn, TLSALPN01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var used []string
			chain, err := env.issue(t, orderer, tc.rec, func(phase string, task Task) {
				if phase == "setup" {
					used = append(used, task.Type)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			requireCovers(t, chain, tc.rec.Domains...)
			for _, u := range used {
				if u != tc.want {
					t.Errorf("challenge %s used; want %s", u, tc.want)
				}
			}
			if l, _ := orderer.Listening(); l != nil {
				t.Errorf("the ordering node listens on %s; it must not answer itself", l)
			}
		})
	}
}

// BenchmarkHTTPHandlerEtcd: one http-01 answer on an etcd store, from the
// watched cache and, for comparison, read from etcd per request.
func BenchmarkHTTPHandlerEtcd(b *testing.B) {
	srv := etcdtest.Start(b)
	st := etcdNodes(b, srv, 1)[0]
	if err := st.Write(b.Context(), store.GroupChallenges, "bench.test", store.FileHTTP01, []byte(testKeyAuth)); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	c, wait := startCache(ctx, st, nil)
	b.Cleanup(func() { cancel(); wait() })
	deadline := time.Now().Add(30 * time.Second)
	for _, ok := c.httpAnswer("bench.test", testToken); !ok; _, ok = c.httpAnswer("bench.test", testToken) {
		if time.Now().After(deadline) {
			b.Fatal("not cached within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, bc := range []struct {
		name string
		c    *cache
	}{{"cached", c}, {"store", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			h := httpHandler(st, bc.c, nil)
			req := httptest.NewRequest("GET", "http://bench.test"+WellKnownPrefix+testToken, nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
