package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
)

// altProxy is fault injection in front of a real Pebble: a TLS reverse
// proxy (Pebble builds its URLs from the proxy's Host) that puts extra
// Link rel="alternate" headers before Pebble's own on certificate
// downloads, and answers the /fake/ ones itself: garbage, a chain for
// another certificate, 404.
type altProxy struct {
	srv   *httptest.Server
	links []string // put before Pebble's alternate links
	other []byte   // a PEM chain of another certificate (/fake/other)
}

func newAltProxy(t *testing.T, ca *devca.CA, links []string) *altProxy {
	t.Helper()
	target, err := url.Parse(ca.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ca.IntermediatePEM()
	if err != nil {
		t.Fatal(err)
	}
	p := &altProxy{links: links, other: inter}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	rp.Transport = ca.HTTPClient().Transport
	rp.ModifyResponse = func(res *http.Response) error {
		if strings.HasPrefix(res.Request.URL.Path, "/certZ/") && !strings.Contains(res.Request.URL.Path, "/alternate/") {
			res.Header["Link"] = append(append([]string(nil), p.links...), res.Header["Link"]...)
		}
		return nil
	}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/fake/garbage":
			w.Header().Set("Content-Type", "application/pem-certificate-chain")
			w.Write([]byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
		case r.URL.Path == "/fake/other":
			w.Header().Set("Content-Type", "application/pem-certificate-chain")
			w.Write(p.other)
		case strings.HasPrefix(r.URL.Path, "/fake/"):
			http.NotFound(w, r)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *altProxy) directoryURL() string { return p.srv.URL + "/dir" }

func (p *altProxy) rootsFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "proxy-roots.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPreferredChainFaults: alternates that cannot stand in for the
// default chain (another server, garbage, another certificate, gone) are
// skipped with a job log entry and the real one after them is still
// found; a real one beyond the first 10 links is not looked at, and the
// default chain is staged with a note.
func TestPreferredChainFaults(t *testing.T) {
	ca := devca.StartT(t, devca.Options{AlternateRoots: 1})
	roots, err := ca.Roots()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for i := range 10 {
		missing = append(missing, fmt.Sprintf("</fake/missing/%d>;rel=\"alternate\"", i))
	}
	for _, tc := range []struct {
		name     string
		links    []string
		wantRoot int
		wantLog  []string // in the job log
		wantNote bool
	}{
		{name: "faulty-then-real", wantRoot: 1,
			links: []string{`<https://elsewhere.invalid/certZ/1>;rel="alternate"`, `</fake/garbage>;rel="alternate"`,
				`</fake/other>; rel=alternate`, `</fake/missing/0>;rel="alternate"`},
			wantLog: []string{"Not following the alternate chain at https://elsewhere.invalid/certZ/1",
				"/fake/garbage: ", "is not a certificate chain", "/fake/other: it is for another certificate", "/fake/missing/0: ",
				"Using the CA's alternate chain at"}},
		{name: "real-beyond-cap", wantRoot: 0, links: missing, wantNote: true,
			wantLog: []string{"links 11 alternate chains; looking at the first 10", "/fake/missing/9: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newAltProxy(t, ca, tc.links)
			dir := t.TempDir()
			name := tc.name + ".chain.test"
			rec := record([]string{p.directoryURL()}, name)
			rec.PreferredChain = roots[1].Subject.CommonName
			args := []string{"--store", dir, "--ca-file", p.rootsFile(t), "--http-listen", fmt.Sprintf("127.0.0.1:%d", ca.HTTPPort)}
			res := runOrder(t, jsonl(t, rec), args...)
			if res.code != 0 || res.recs[0].Error != nil {
				t.Fatalf("exit %d, error %+v\n%s", res.code, res.recs[0].Error, res.stderr)
			}
			st := mustStore(t, dir)
			chain, err := st.LoadChain(t.Context(), store.GroupStaging, name, "pubcert.pem")
			if err != nil {
				t.Fatal(err)
			}
			checkLeadsTo(t, "pubcert.pem", chain, roots[tc.wantRoot], name)
			job, err := st.LoadJob(t.Context(), store.GroupStaging, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.wantLog {
				if !jobMentions(job, s) {
					t.Errorf("job log lacks %q:\n%s", s, jobDetails(job))
				}
			}
			if got := jobMentions(job, "preferred topmost issuer"); got != tc.wantNote {
				t.Errorf("note in the job log: %v; want %v", got, tc.wantNote)
			}
		})
	}
}
