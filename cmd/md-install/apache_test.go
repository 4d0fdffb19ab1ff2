package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/install"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// apacheServer is a real Apache httpd on loopback ports with its own
// ServerRoot and config; md-install's reload command starts it.
type apacheServer struct {
	*apachetest.Server
	httpPort, httpsPort int
}

// newApache writes the config: two MDs, each with a plain-HTTP and an SSL
// vhost that include md-install's snippet for it.
func newApache(t *testing.T, snippets string) *apacheServer {
	t.Helper()
	a := &apacheServer{}
	a.Server = apachetest.New(t, apachetest.Options{Ports: 2, Modules: []string{"mpm_event", "authz_core", "ssl", "rewrite", "headers"},
		Config: func(s *apachetest.Server) string {
			a.httpPort, a.httpsPort = s.Ports[0], s.Ports[1]
			htdocs := filepath.Join(s.Root, "htdocs")
			if err := os.MkdirAll(htdocs, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(htdocs, "name.txt"), []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("LogLevel warn\n")
			fmt.Fprintf(&b, "ServerName localhost\nListen 127.0.0.1:%d\nListen 127.0.0.1:%d\nDocumentRoot %q\n", a.httpPort, a.httpsPort, htdocs)
			b.WriteString("<Directory />\n  Require all granted\n</Directory>\n")
			for _, name := range []string{"a.test", "b.test", "c.test"} {
				fmt.Fprintf(&b, "<VirtualHost 127.0.0.1:%d>\n  ServerName %s\n  ServerAlias www.%s\n  Include %s/%s.conf\n</VirtualHost>\n", a.httpPort, name, name, snippets, name)
				fmt.Fprintf(&b, "<VirtualHost 127.0.0.1:%d>\n  ServerName %s\n  ServerAlias www.%s\n  SSLEngine on\n  Include %s/%s.conf\n</VirtualHost>\n", a.httpsPort, name, name, snippets, name)
			}
			return b.String()
		}})
	return a
}

// served returns the fingerprint of the leaf Apache serves for name.
func (a *apacheServer) served(t *testing.T, name string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.httpsPort), &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", name, err)
	}
	defer conn.Close()
	return install.Fingerprint(conn.ConnectionState().PeerCertificates[0])
}

type testCred struct {
	spec  md.KeySpec
	key   crypto.Signer
	chain []*x509.Certificate
}

func stage(t *testing.T, ca *devca.CA, st *store.Store, rec *md.Record) []testCred {
	t.Helper()
	m := rec.MD
	m.CA = &md.CA{Proto: md.ProtoACME, URL: ca.DirectoryURL, URLs: []string{ca.DirectoryURL}}
	if err := st.SaveMD(t.Context(), store.GroupStaging, &m); err != nil {
		t.Fatal(err)
	}
	specs := rec.PrivKey.Effective()
	creds := make([]testCred, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() { // issue the key specs' certificates in parallel
			defer wg.Done()
			var key crypto.Signer
			var err error
			if spec.Type == md.KeyEC {
				key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			} else {
				key, err = rsa.GenerateKey(rand.Reader, 2048)
			}
			if err != nil {
				errs[i] = err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			chain, err := ca.Issue(ctx, rec.Domains, key)
			creds[i], errs[i] = testCred{spec, key, chain}, err
		}()
	}
	wg.Wait()
	for i, c := range creds {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if err := st.SaveKey(t.Context(), store.GroupStaging, rec.Name, c.spec.FileName("privkey"), c.key); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveChain(t.Context(), store.GroupStaging, rec.Name, c.spec.FileName("pubcert"), c.chain); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveJob(t.Context(), store.GroupStaging, rec.Name, &md.Job{Name: rec.Name, Finished: true}); err != nil {
		t.Fatal(err)
	}
	return creds
}

func fingerprints(creds []testCred) map[string]bool {
	out := map[string]bool{}
	for _, c := range creds {
		out[install.Fingerprint(c.chain[0])] = true
	}
	return out
}

// runInstall runs md-install in-process with records on stdin.
func runInstall(t *testing.T, recs []*md.Record, args ...string) (int, []*md.Record, string) {
	t.Helper()
	var in bytes.Buffer
	for _, r := range recs {
		b, _ := json.Marshal(r)
		in.Write(append(b, '\n'))
	}
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-install"}, args...), cli.Env{Stdin: &in, Stdout: &out, Stderr: &errOut})
	got, err := cli.ReadRecords(&out, "stdout", false)
	if err != nil {
		t.Fatalf("md-install stdout: %v\n%s", err, out.String())
	}
	return code, got, errOut.String()
}

func apacheRecords(a *apacheServer) []*md.Record {
	mk := func(name, requireHTTPS string, specs md.KeySpecs) *md.Record {
		return &md.Record{
			MD: md.MD{Name: name, Domains: []string{name, "www." + name}, PrivKey: specs, RenewMode: md.RenewAuto, RequireHTTPS: requireHTTPS},
			Vhosts: []md.Vhost{
				{ServerName: name, Aliases: []string{"www." + name}, Addresses: []string{fmt.Sprintf("127.0.0.1:%d", a.httpPort)}},
				{ServerName: name, Aliases: []string{"www." + name}, Addresses: []string{fmt.Sprintf("127.0.0.1:%d", a.httpsPort)}, SSL: true},
			},
			Settings: &md.Settings{ReloadCmd: a.Args("-k", "graceful")},
		}
	}
	return []*md.Record{
		mk("a.test", "temporary", md.KeySpecs{{Type: md.KeyRSA, Bits: 2048}, {Type: md.KeyEC, Curve: "P-256"}}),
		mk("b.test", "permanent", md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}),
		mk("c.test", "", md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}), // nothing staged at first
	}
}

func TestApacheServesInstalledCertificates(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	storeDir := t.TempDir()
	snippets := filepath.Join(t.TempDir(), "apache")
	st, err := store.Open(t.Context(), storeDir)
	if err != nil {
		t.Fatal(err)
	}
	a := newApache(t, snippets)
	recs := apacheRecords(a)
	staged := map[string][]testCred{}
	for _, r := range recs[:2] {
		staged[r.Name] = stage(t, ca, st, r)
	}
	args := []string{"--store", storeDir, "--apache-dir", snippets, "--verify-timeout", "20s"}

	// First run: activation, snippets, Apache started by "-k graceful".
	code, out, stderr := runInstall(t, recs, args...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if msg, err := exec.Command(a.Args("-t")[0], a.Args("-t")[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, msg)
	}
	for _, r := range out[:2] {
		in := r.Install
		if in == nil || in.Action != "activated" || in.Served == nil || !*in.Served || !in.Reloaded {
			t.Fatalf("%s: install %+v error %+v", r.Name, in, r.Error)
		}
		if in.Apache != filepath.Join(snippets, r.Name+".conf") {
			t.Errorf("%s: apache %q", r.Name, in.Apache)
		}
		for _, name := range r.Domains {
			if fp := a.served(t, name); !fingerprints(staged[r.Name])[fp] {
				t.Errorf("%s: Apache serves %s, not a staged certificate", name, fp)
			}
		}
	}

	t.Run("fallback before the first certificate", func(t *testing.T) {
		if c := out[2]; c.Install.Action != "none" || c.Error != nil {
			t.Fatalf("c.test: %+v %+v", c.Install, c.Error)
		}
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.httpsPort), &tls.Config{ServerName: "c.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if leaf.Subject.CommonName != "Apache Managed Domain Fallback" || leaf.DNSNames[0] != "c.test" {
			t.Errorf("c.test serves %q %v; want mod_md's fallback", leaf.Subject.CommonName, leaf.DNSNames)
		}
		if status := httpsStatus(t, a, "c.test"); status != 503 {
			t.Errorf("HTTPS on the fallback: %d; want 503", status)
		}
	})

	t.Run("MDRequireHttps", func(t *testing.T) {
		client := &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					_, port, _ := net.SplitHostPort(addr)
					return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
				},
			},
		}
		tests := []struct {
			name, method, url string
			status            int
			location, hsts    string
		}{
			{"temporary GET", "GET", "http://a.test:%[1]d/name.txt", 302, "https://a.test/name.txt", ""},
			{"temporary alias keeps query", "GET", "http://www.a.test:%[1]d/name.txt?x=1&y=2", 302, "https://www.a.test/name.txt?x=1&y=2", ""},
			{"temporary POST", "POST", "http://a.test:%[1]d/form", 307, "https://a.test/form", ""},
			{"temporary HEAD", "HEAD", "http://a.test:%[1]d/name.txt", 302, "https://a.test/name.txt", ""},
			{"temporary well-known", "GET", "http://a.test:%[1]d/.well-known/acme-challenge/x", 404, "", ""},
			{"temporary https no HSTS", "GET", "https://a.test:%[2]d/name.txt", 200, "", ""},
			{"permanent GET", "GET", "http://b.test:%[1]d/name.txt", 301, "https://b.test/name.txt", ""},
			{"permanent PUT", "PUT", "http://b.test:%[1]d/name.txt", 308, "https://b.test/name.txt", ""},
			{"permanent well-known", "GET", "http://b.test:%[1]d/.well-known/x", 404, "", ""},
			{"permanent https HSTS", "GET", "https://b.test:%[2]d/name.txt", 200, "", install.HSTSHeader},
			{"permanent https alias HSTS", "GET", "https://www.b.test:%[2]d/name.txt", 200, "", install.HSTSHeader},
			{"permanent https well-known no HSTS", "GET", "https://b.test:%[2]d/.well-known/x", 404, "", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, fmt.Sprintf(tc.url, a.httpPort, a.httpsPort), nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || resp.Header.Get("Strict-Transport-Security") != tc.hsts {
					t.Errorf("got %d Location %q HSTS %q; want %d %q %q", resp.StatusCode, resp.Header.Get("Location"),
						resp.Header.Get("Strict-Transport-Security"), tc.status, tc.location, tc.hsts)
				}
			})
		}
	})

	t.Run("second renewal swaps again, first certificate replaces the fallback", func(t *testing.T) {
		before := a.served(t, "a.test")
		next := stage(t, ca, st, recs[0])
		first := stage(t, ca, st, recs[2])
		code, out, stderr := runInstall(t, recs, args...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if out[0].Install.Action != "activated" || out[1].Install.Action != "none" || !*out[0].Install.Served ||
			out[2].Install.Action != "activated" || !*out[2].Install.Served {
			t.Fatalf("install: %+v / %+v / %+v", out[0].Install, out[1].Install, out[2].Install)
		}
		if fp := a.served(t, "a.test"); fp == before || !fingerprints(next)[fp] {
			t.Errorf("Apache still serves the previous certificate")
		}
		if fp := a.served(t, "c.test"); !fingerprints(first)[fp] {
			t.Errorf("c.test still on the fallback")
		}
		if status := httpsStatus(t, a, "c.test"); status != 200 {
			t.Errorf("HTTPS on c.test: %d; want 200", status)
		}
		if !st.Exists(t.Context(), store.GroupArchive, "c.test.1", "fallback-pubcert.p-256.pem") {
			t.Errorf("the fallback set was not archived as mod_md does")
		}
	})

	t.Run("server not reloaded", func(t *testing.T) {
		before := a.served(t, "b.test")
		stage(t, ca, st, recs[1])
		code, out, stderr := runInstall(t, recs, append(args, "--reload-cmd", "/bin/true", "--verify-timeout", "1s")...)
		if code != cli.ExitFailed {
			t.Fatalf("exit %d; want 1\n%s", code, stderr)
		}
		b := out[1]
		if b.Error == nil || b.Error.Problem != install.ProblemNotServed || !strings.Contains(b.Error.Detail, "still serves the previous certificate") ||
			b.Install.Served == nil || *b.Install.Served || b.Install.Action != "activated" {
			t.Fatalf("b.test: install %+v error %+v", b.Install, b.Error)
		}
		if a.served(t, "b.test") != before {
			t.Fatalf("Apache changed without a reload?")
		}
		job, _ := st.LoadJob(t.Context(), store.GroupDomains, "b.test")
		if e, ok := job.LastEntry("install-error"); !ok || e.Status != install.ProblemNotServed {
			t.Errorf("job log: %+v", job.Log.Entries[:3])
		}
		// the next run reloads and verifies again, although nothing is staged
		code, out, stderr = runInstall(t, recs, args...)
		if code != cli.ExitOK || out[1].Install.Served == nil || !*out[1].Install.Served {
			t.Fatalf("rerun: exit %d install %+v error %+v\n%s", code, out[1].Install, out[1].Error, stderr)
		}
	})

	t.Run("--all from the store", func(t *testing.T) {
		next := stage(t, ca, st, recs[1])
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), tool(), append([]string{"md-install", "--all", "--reload-cmd", strings.Join(a.Args("-k", "graceful"), " "),
			"--verify-addr", fmt.Sprintf("127.0.0.1:%d", a.httpsPort)}, args...), cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		if code != cli.ExitOK {
			t.Fatalf("exit %d\n%s", code, errOut.String())
		}
		got, err := cli.ReadRecords(&out, "stdout", false)
		if err != nil || len(got) != 3 {
			t.Fatalf("records %d %v", len(got), err)
		}
		for _, r := range got {
			want := "none"
			if r.Name == "b.test" {
				want = "activated"
			}
			if r.Install.Action != want {
				t.Errorf("%s: action %q; want %q", r.Name, r.Install.Action, want)
			}
		}
		if b := got[1]; b.Install.Served == nil || !*b.Install.Served {
			t.Errorf("b.test not verified: %+v", b.Install)
		}
		if fp := a.served(t, "b.test"); !fingerprints(next)[fp] {
			t.Errorf("Apache does not serve b.test's new certificate")
		}
	})

	t.Run("reload fails", func(t *testing.T) {
		stage(t, ca, st, recs[0])
		code, out, stderr := runInstall(t, recs, append(args, "--reload-cmd", "/bin/sh -c 'echo broken config >&2; exit 3'")...)
		if code != cli.ExitFailed {
			t.Fatalf("exit %d; want 1\n%s", code, stderr)
		}
		if e := out[0].Error; e == nil || e.Problem != install.ProblemReload || !strings.Contains(e.Detail, "broken config") {
			t.Fatalf("a.test error %+v", e)
		}
		if out[1].Error != nil {
			t.Errorf("b.test was not affected but has error %+v", out[1].Error)
		}
	})
}

// httpsStatus GETs /name.txt from name over HTTPS.
func httpsStatus(t *testing.T, a *apacheServer, name string) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", a.httpsPort))
		},
	}}
	resp, err := client.Get("https://" + name + "/name.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
