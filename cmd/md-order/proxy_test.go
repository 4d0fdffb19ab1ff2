package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/httpproxy/proxytest"
)

// TestHTTPSProxyWithPrivateCA: md-order reaches a real Pebble through a
// real CONNECT proxy served over TLS with a private CA, trusted through
// MDHttpProxyCACertificateFile (per MD, and global in the settings).
// Without the file the proxy's certificate is refused, with an error that
// names the directive, and nothing is staged.
func TestHTTPSProxyWithPrivateCA(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	p := proxytest.Start(t)
	listen := "127.0.0.1:" + strconv.Itoa(ca.HTTPPort)

	dir := t.TempDir()
	rec := record([]string{ca.DirectoryURL}, "hpx.test")
	rec.ProxyURL, rec.ProxyCACerts, rec.CACerts = p.URL, p.CAFile, ca.RootsFile
	res := runOrder(t, jsonl(t, rec), "--store", dir, "--http-listen", listen)
	if res.code != 0 || p.Tunnels.Load() == 0 {
		t.Fatalf("per MD: exit %d, %d tunnels, error %+v\n%s", res.code, p.Tunnels.Load(), res.recs[0].Error, res.stderr)
	}
	checkStaged(t, ca, dir, rec)

	before := p.Tunnels.Load()
	glob := record([]string{ca.DirectoryURL}, "ghpx.test")
	glob.Settings.HTTPProxy, glob.Settings.ProxyCACerts, glob.Settings.CACerts = p.URL, p.CAFile, ca.RootsFile
	res = runOrder(t, jsonl(t, glob), "--store", t.TempDir(), "--http-listen", listen)
	if res.code != 0 || p.Tunnels.Load() == before {
		t.Fatalf("global: exit %d, tunnels %d -> %d, error %+v\n%s", res.code, before, p.Tunnels.Load(), res.recs[0].Error, res.stderr)
	}

	dir = t.TempDir()
	bad := record([]string{ca.DirectoryURL}, "nopxca.test")
	bad.ProxyURL, bad.CACerts = p.URL, ca.RootsFile
	res = runOrder(t, jsonl(t, bad), "--store", dir, "--http-listen", listen)
	if res.code != 1 || res.recs[0].Error == nil || !strings.Contains(res.recs[0].Error.Detail, "MDHttpProxyCACertificateFile") ||
		!strings.Contains(res.recs[0].Error.Detail, "unknown CA") {
		t.Errorf("no proxy CA: exit %d error %+v\n%s", res.code, res.recs[0].Error, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "staging", "nopxca.test", "pubcert.pem")); err == nil {
		t.Errorf("staged although the proxy was refused")
	}
}
