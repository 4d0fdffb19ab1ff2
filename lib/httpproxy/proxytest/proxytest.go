// Package proxytest runs a real forward proxy on loopback for tests: HTTP
// CONNECT tunnels (https:// origins) and absolute-URI forwarding (http://
// origins, as OCSP uses), served over TLS with a certificate from a
// private CA whose PEM is in CAFile, or over plain HTTP.
package proxytest

import (
	"crypto/tls"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
)

// Proxy is a running proxy.
type Proxy struct {
	URL      string       // https://127.0.0.1:port (or http:// from StartPlain)
	CAFile   string       // PEM of the private CA that signed the proxy's certificate
	Tunnels  atomic.Int32 // CONNECT tunnels opened
	Forwards atomic.Int32 // plain requests forwarded

	mu      sync.Mutex
	tunnels map[net.Conn]struct{} // both ends of open tunnels, closed at the end
	wg      sync.WaitGroup        // the tunnels' copy goroutines
	closed  bool
}

// Start serves the proxy over TLS until the test ends.
func Start(t testing.TB) *Proxy { return start(t, true) }

// StartPlain serves the proxy over plain HTTP until the test ends.
func StartPlain(t testing.TB) *Proxy { return start(t, false) }

func start(t testing.TB, useTLS bool) *Proxy {
	t.Helper()
	p := &Proxy{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if useTLS {
		cert, caPEM := certificate(t)
		p.CAFile = filepath.Join(t.TempDir(), "proxy-ca.pem")
		if err := os.WriteFile(p.CAFile, caPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
		scheme = "https"
	}
	p.URL = scheme + "://" + ln.Addr().String()
	// refused handshakes are what some tests expect: not worth a log line
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close() // does not know the hijacked tunnel connections
		p.mu.Lock()
		p.closed = true
		for c := range p.tunnels {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// track registers a tunnel's connections and its two copy goroutines;
// false when the proxy is closing.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.tunnels == nil {
		p.tunnels = map[net.Conn]struct{}{}
	}
	for _, c := range cs {
		p.tunnels[c] = struct{}{}
	}
	p.wg.Add(2) // the copy goroutines, counted before Cleanup can Wait
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.tunnels, c)
	}
}

// ServeHTTP tunnels CONNECT and forwards absolute-URI requests.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		p.forward(w, r)
		return
	}
	up, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(conn, up) {
		conn.Close()
		up.Close()
		return
	}
	p.Tunnels.Add(1)
	go func() { defer p.wg.Done(); _, _ = io.Copy(up, buf); p.untrack(conn, up) }()
	go func() { defer p.wg.Done(); _, _ = io.Copy(conn, up); p.untrack(conn, up) }()
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "absolute http:// URI or CONNECT only", http.StatusBadRequest)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.Header = r.Header.Clone()
	out.Header.Del("Proxy-Connection")
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	p.Forwards.Add(1)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// certificate makes a private CA and a certificate for 127.0.0.1 signed
// by it.
func certificate(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	ca := certtest.New(t, certtest.Spec{CA: true})
	leaf := certtest.New(t, certtest.Spec{Names: []string{"localhost", "127.0.0.1"}, Serial: big.NewInt(2), Issuer: ca})
	return tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key}, ca.PEM()
}
