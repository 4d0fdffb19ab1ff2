package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

// binDir holds the commands built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "mdtools-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// md-parse's run memos go to a cache directory of this run, not
		// the user's (the commands inherit the variable)
		cache, err := os.MkdirTemp("", "mdtools-e2e-cache-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(cache)
		os.Setenv(memo.CacheEnv, cache)
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the commands: %v\n%s", err, out)
			return 1
		}
		binDir = dir
		return m.Run()
	}())
}

// moduleRoot is the directory with go.mod, above this package.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}

// result is one command run.
type result struct {
	code   int
	stdout []byte
	stderr string
}

// records parses stdout as the record stream.
func (r result) records(t *testing.T) []*md.Record {
	t.Helper()
	recs, err := cli.ReadRecords(bytes.NewReader(r.stdout), "stdout", false)
	if err != nil {
		t.Fatalf("stdout is not a record stream: %v\n%s", err, r.stdout)
	}
	return recs
}

// run runs a built command with stdin and the test's environment.
func (e *env) run(t *testing.T, stdin []byte, name string, args ...string) result {
	t.Helper()
	return runIn(t, e.store, stdin, name, args...)
}

// env is one test setup: CA, OCSP responder, Apache, store, event log.
type env struct {
	ca        *devca.CA
	ocsp      *ocsptest.Responder
	apache    *apachetest.Server // its ServerRoot holds snippets, store, events
	snippets  string
	store     string
	events    string // MDMessageCmd/MDNotifyCmd log, one argv per line
	httpPort  int    // Apache
	httpsPort int
	pebbleLog string
	roots     *x509.CertPool // Pebble's issuing roots
}

func setup(t *testing.T) *env {
	t.Helper()
	ca, resp, roots := ocspCA(t)
	e := &env{ca: ca, ocsp: resp, pebbleLog: filepath.Join(ca.Dir, "pebble.log"), roots: roots}
	e.apache = apachetest.New(t, apachetest.Options{Ports: 2, Modules: []string{"mpm_event", "authz_core", "ssl", "rewrite", "headers"},
		Config: func(s *apachetest.Server) string {
			root := s.Root
			e.snippets, e.store, e.events = filepath.Join(root, "md"), filepath.Join(root, "store"), filepath.Join(root, "events.log")
			e.httpPort, e.httpsPort = s.Ports[0], s.Ports[1]
			recorder := filepath.Join(root, "record-event")
			if err := os.WriteFile(recorder, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >> "+e.events+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("LogLevel warn\n")
			fmt.Fprintf(&b, "ServerName localhost\nListen 127.0.0.1:%d\nListen 127.0.0.1:%d\n", e.httpPort, e.httpsPort)
			// The MD* directives, as for mod_md; this Apache has no mod_md, so
			// they are hidden from it and only md-parse reads them.
			b.WriteString("<IfModule md_module>\n")
			fmt.Fprintf(&b, "  MDCertificateAuthority %s\n", ca.DirectoryURL)
			fmt.Fprintf(&b, "  MDPortMap http:%d https:%d\n", e.httpPort, e.httpsPort)
			fmt.Fprintf(&b, "  MDMessageCmd %s msg\n  MDNotifyCmd %s notify\n", recorder, recorder)
			b.WriteString("  MDContactEmail admin@a.test\n  MDCertificateAgreement accepted\n  MDStapling on\n")
			// MDCACertificateFile inside the MD: md-order ignores the global one
			// (settings.ca-certs), see the report of issue 8.
			fmt.Fprintf(&b, "  <MDomain a.test www.a.test>\n    MDCACertificateFile %s\n  </MDomain>\n</IfModule>\n", ca.RootsFile)
			for _, port := range []int{e.httpPort, e.httpsPort} {
				fmt.Fprintf(&b, "<VirtualHost 127.0.0.1:%d>\n  ServerName a.test\n  ServerAlias www.a.test\n", port)
				if port == e.httpsPort {
					b.WriteString("  SSLEngine on\n")
				}
				fmt.Fprintf(&b, "  IncludeOptional %s/a.test.conf\n</VirtualHost>\n", e.snippets)
			}
			return b.String()
		}})
	return e
}

// served returns the SHA-256 fingerprint of the leaf Apache serves for
// name, after checking the chain against Pebble's roots.
func (e *env) served(t *testing.T, name string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.httpsPort), &tls.Config{ServerName: name, RootCAs: e.roots})
	if err != nil {
		t.Fatalf("TLS to Apache for %s: %v", name, err)
	}
	defer conn.Close()
	return fingerprint(conn.ConnectionState().PeerCertificates[0])
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// live is the fingerprint of the store's live certificate of an MD.
func (e *env) live(t *testing.T, name string) string {
	t.Helper()
	st, err := store.OpenReadOnly(e.store)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := st.LoadChain(t.Context(), store.GroupDomains, name, "pubcert.pem")
	if err != nil {
		t.Fatalf("live certificate of %s: %v", name, err)
	}
	return fingerprint(chain[0])
}

// eventLines returns the recorded event commands from line from on.
func (e *env) eventLines(t *testing.T, from int) []string {
	t.Helper()
	data, err := os.ReadFile(e.events)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	if from > len(lines) {
		return nil
	}
	return lines[from:]
}

// newOrders counts the orders Pebble has created so far (its log line
// per new order).
var pebbleOrderLine = regexp.MustCompile(`(?m)^.*Added order "`)

func (e *env) pebbleOrders(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(e.pebbleLog)
	if err != nil {
		t.Fatal(err)
	}
	return len(pebbleOrderLine.FindAll(data, -1))
}

// pebbleLogSize is the size of Pebble's log, which has a line for every
// request Pebble answers.
func (e *env) pebbleLogSize(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(e.pebbleLog)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// cycle runs md-parse | md-order | md-install | md-staple, one stage after
// the other, and returns each stage's result.
func (e *env) cycle(t *testing.T, orderArgs ...string) (parse, order, install, staple result) {
	t.Helper()
	parse = e.run(t, nil, "md-parse", e.apache.Conf)
	if parse.code != 0 {
		t.Fatalf("md-parse: exit %d\n%s", parse.code, parse.stderr)
	}
	order = e.run(t, parse.stdout, "md-order", append([]string{"--http-listen", fmt.Sprintf("127.0.0.1:%d", e.ca.HTTPPort)}, orderArgs...)...)
	install = e.run(t, order.stdout, "md-install", "--apache-dir", e.snippets,
		"--reload-cmd", strings.Join(e.apache.Args("-k", "graceful"), " "), "--verify-timeout", "20s")
	staple = e.run(t, install.stdout, "md-staple")
	return
}

func only(t *testing.T, r result) *md.Record {
	t.Helper()
	recs := r.records(t)
	if len(recs) != 1 || recs[0].Name != "a.test" {
		t.Fatalf("want one record for a.test, got %d\n%s", len(recs), r.stdout)
	}
	return recs[0]
}

// ocspCA is a Pebble whose certificates name a real OCSP responder that
// signs with Pebble's intermediate key, and Pebble's issuing roots.
func ocspCA(t *testing.T) (*devca.CA, *ocsptest.Responder, *x509.CertPool) {
	t.Helper()
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(resp.Close)
	ca := devca.StartT(t, devca.Options{KeyAlgorithm: "rsa", OCSPResponderURL: resp.URL})
	ipem, err := ca.IntermediatePEM()
	if err != nil {
		t.Fatal(err)
	}
	kpem, err := ca.IntermediateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	ic, err := store.ParseChainPEM(ipem)
	if err != nil {
		t.Fatal(err)
	}
	ik, err := store.ParseKeyPEM(kpem, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.SetIssuer(ic[0], ik); err != nil {
		t.Fatal(err)
	}
	roots, err := ca.IssuerRoots()
	if err != nil {
		t.Fatal(err)
	}
	return ca, resp, roots
}

// tlsServer is a TLS server on host (a port the kernel picks) that asks
// get for the certificate at every handshake, as a web server does after
// a reload; it stops when the test ends. It returns its address.
func tlsServer(t *testing.T, host string, get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listening on %s (IPv6 loopback must be configured for these tests): %v", host, err)
	}
	srv := tls.NewListener(l, &tls.Config{GetCertificate: get})
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}
