package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-staple"}, args...),
		cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// responder is a real OCSP responder on loopback signing for a new test
// CA named name; it is closed when the test ends.
func responder(t *testing.T, name string) (*ocsptest.Responder, *ocsptest.CA) {
	t.Helper()
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Close() })
	ca, err := ocsptest.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.SetIssuer(ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	return resp, ca
}

// installLive writes domains/<name> as md-install leaves it: md.json
// (stapling on) and a certificate from ca whose OCSP responder is resp; it
// returns the MD and the chain (PEM).
func installLive(t *testing.T, st *store.Store, ca *ocsptest.CA, resp *ocsptest.Responder, name string) (*md.MD, []byte) {
	t.Helper()
	_, _, chain, err := ca.Leaf(ocsptest.LeafOptions{OCSP: resp.URL, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	m := &md.MD{Name: name, Domains: []string{name}, Stapling: true, State: md.StateComplete}
	if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(t.Context(), store.GroupDomains, name, "pubcert.pem", chain); err != nil {
		t.Fatal(err)
	}
	return m, chain
}

func TestHelpNamesTheJob(t *testing.T) {
	code, out, errOut := run(t, "", "--help")
	if code != cli.ExitOK || !strings.Contains(out, tool().Usage) || !strings.Contains(out, "--version") {
		t.Errorf("exit %d, help:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"md-parse /etc/apache2/apache2.conf | md-order | md-install | md-staple", "--cert-ocsp-file", "ocsp-<sha1 of cert DER>.json"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"all with files", "", []string{"--all", "x.jsonl"}, "--all reads the MDs from the store"},
		{"bad window", "", []string{"--all", "--renew-window", "120%"}, "--renew-window"},
		{"bad keep", "", []string{"--all", "--keep-response", "soon"}, "--keep-response"},
		{"bad proxy", "", []string{"--all", "--http-proxy", "::"}, "--http-proxy"},
		{"parallel 0", "", []string{"--all", "--parallel", "0"}, "--parallel"},
		{"bad record", `{"name":"a.test","domains":"a.test"}` + "\n", nil, "stdin: line 1"},
		{"unknown flag", "", []string{"--nope"}, "unknown flag --nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.stdin, append([]string{"--store", dir}, tc.args...)...)
			if code != cli.ExitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

// TestCommand runs md-staple in-process against a real responder: records
// on stdin, then --all, a responder outage, a held lock, and --cert.
func TestCommand(t *testing.T) {
	resp, ca := responder(t, "md-staple Test CA")
	storeDir := t.TempDir()
	st, err := store.Open(t.Context(), storeDir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, name := range []string{"a.test", "b.test"} {
		m, _ := installLive(t, st, ca, resp, name)
		b, _ := json.Marshal(&md.Record{MD: *m, Order: &md.OrderResult{}})
		lines = append(lines, string(b))
	}
	stdin := strings.Join(lines, "\n") + "\n"

	code, out, errOut := run(t, stdin, "--store", storeDir)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := decode(t, out)
	if len(recs) != 2 || recs[0].Order == nil || recs[0].Staple == nil || recs[0].Staple.Responses[0].Action != "fetched" {
		t.Fatalf("records: %s", out)
	}
	if resp.Requests.Load() != 2 {
		t.Errorf("requests = %d", resp.Requests.Load())
	}

	code, out, _ = run(t, "", "--store", storeDir, "--all")
	recs = decode(t, out)
	if code != cli.ExitOK || len(recs) != 2 || recs[1].Staple.Responses[0].Action != "kept" || resp.Requests.Load() != 2 {
		t.Errorf("--all: exit %d, %s", code, out)
	}

	resp.SetDown(true)
	code, out, errOut = run(t, "", "--store", storeDir, "--all", "--force")
	resp.SetDown(false)
	recs = decode(t, out)
	if code != cli.ExitFailed || len(recs) != 2 || recs[0].Error == nil || !strings.Contains(errOut, "HTTP 503") {
		t.Errorf("outage: exit %d, stdout %s, stderr %s", code, out, errOut)
	}

	unlock, err := st.Lock(context.Background(), "_ocsp.a.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "--store", storeDir, "--all", "--force", "--wait", "100ms")
	unlock()
	if code != cli.ExitLocked || out != "" {
		t.Errorf("locked: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	_, _, chain, _ := ca.Leaf(ocsptest.LeafOptions{OCSP: resp.URL, Name: "static.test"})
	certFile := filepath.Join(t.TempDir(), "static.pem")
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "--store", storeDir, "--cert", certFile, "--cert-ocsp-file")
	recs = decode(t, out)
	if code != cli.ExitOK || len(recs) != 1 || recs[0].Name != "other" || recs[0].Staple.Responses[0].File != certFile+".ocsp" {
		t.Fatalf("--cert: exit %d, %s %s", code, out, errOut)
	}
	if _, err := os.Stat(certFile + ".ocsp"); err != nil {
		t.Error(err)
	}
}

func decode(t *testing.T, out string) []*md.Record {
	t.Helper()
	var recs []*md.Record
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r md.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		recs = append(recs, &r)
	}
	return recs
}
