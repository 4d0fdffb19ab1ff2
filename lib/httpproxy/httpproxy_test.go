package httpproxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/httpproxy"
	"github.com/mdtools/mdtools/lib/httpproxy/proxytest"
)

// client is a transport through proxy that trusts origin's certificate.
func client(t *testing.T, origin *httptest.Server, proxy, caFile string) (*http.Client, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(origin.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
	if err := httpproxy.Configure(tr, proxy, caFile); err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr}, nil
}

func get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestHTTPSProxyWithPrivateCA: with MDHttpProxyCACertificateFile the
// proxy's certificate is trusted and both an https origin (CONNECT) and an
// http origin (forwarded, as OCSP is) answer through it; without the file
// the proxy is refused with an error that names the directive.
func TestHTTPSProxyWithPrivateCA(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	tlsOrigin := httptest.NewTLSServer(hello)
	defer tlsOrigin.Close()
	plainOrigin := httptest.NewServer(hello)
	defer plainOrigin.Close()
	p := proxytest.Start(t)

	c, err := client(t, tlsOrigin, p.URL, p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{tlsOrigin.URL, plainOrigin.URL} {
		if body, err := get(c, u); err != nil || body != "hello" {
			t.Errorf("GET %s through the proxy: %q, %v", u, body, err)
		}
	}
	if p.Tunnels.Load() != 1 || p.Forwards.Load() != 1 {
		t.Errorf("proxy saw %d tunnels, %d forwards; want 1, 1", p.Tunnels.Load(), p.Forwards.Load())
	}

	other := proxytest.Start(t) // a CA file of another CA
	tests := []struct {
		name, caFile string
		want         []string
	}{
		{"no file", "", []string{"unknown CA", "MDHttpProxyCACertificateFile", strings.TrimPrefix(p.URL, "https://")}},
		{"none", "none", []string{"MDHttpProxyCACertificateFile"}},
		{"another CA", other.CAFile, []string{"not signed by a CA in " + other.CAFile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client(t, tlsOrigin, p.URL, tc.caFile)
			if err != nil {
				t.Fatal(err)
			}
			_, err = get(c, tlsOrigin.URL)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v; want an error with %q", err, w)
				}
			}
		})
	}
}

// TestConfigureErrors: bad values are refused before any connection.
func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, proxy, caFile, want string }{
		{"scheme", "socks5://127.0.0.1:1", "", "want http://host:port"},
		{"no host", "https://", "", "want http://host:port"},
		{"missing file", "https://127.0.0.1:1", filepath.Join(dir, "nope.pem"), "no such file"},
		{"no PEM", "https://127.0.0.1:1", junk, "no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := httpproxy.Configure(&http.Transport{}, tc.proxy, tc.caFile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want %q", err, tc.want)
			}
		})
	}
	// an http:// proxy ignores the file, as mod_md does
	if err := httpproxy.Configure(&http.Transport{}, "http://127.0.0.1:1", junk); err != nil {
		t.Errorf("http proxy with a CA file: %v", err)
	}
}
