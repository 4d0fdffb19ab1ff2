package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// apache is a Debian apache2 with mod_md in its own ServerRoot.
type apache struct {
	*apachetest.Server
	t        *testing.T
	httpPort int
}

func (a *apache) get(path, host string) ([]byte, error) {
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(a.httpPort)+path, nil)
	if err != nil {
		return nil, err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return b, nil
}

// startApache writes a config with two MDs (one with two key specs) that
// get their certificates from ca, and starts Apache.
func startApache(t *testing.T, ca *devca.CA, httpPort, httpsPort int) *apache {
	// The worker user (www-data) runs mod_md's watchdog: it must reach the
	// store and the CA roots, both in the ServerRoot (0755, see apachetest).
	srv := apachetest.Start(t, apachetest.Options{Modules: []string{"mpm_event", "authz_core", "socache_shmcb", "ssl", "status", "md"},
		Config: func(s *apachetest.Server) string {
			caFile := filepath.Join(s.Root, "acme-ca.pem")
			if err := os.WriteFile(caFile, ca.RootsPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			// a4.test: static files whose certificate lacks www.a4.test
			staticCert, staticKey := writeSelfSigned(t, s.Root, "a4.test")
			return fmt.Sprintf(`LogLevel warn md:debug
ServerName localhost
ServerAdmin mailto:admin@example.org
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)

MDCertificateAuthority %[4]s
MDCACertificateFile %[5]s
MDCertificateAgreement accepted
MDContactEmail admin@example.org
MDPortMap http:%[2]d https:%[3]d
MDCAChallenges http-01
MDRetryDelay 1s
MDServerStatus on

<Location /md-status>
    SetHandler md-status
</Location>
<Location /server-status>
    SetHandler server-status
</Location>

<MDomain a1.test>
    MDStapling on
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName a1.test
    SSLEngine on
</VirtualHost>

<MDomain a2.test www.a2.test>
    MDPrivateKeys secp256r1 RSA 2048
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName a2.test
    ServerAlias www.a2.test
    SSLEngine on
</VirtualHost>

<MDomain a3.test>
    MDCAChallenges invalid-01
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName a3.test
    SSLEngine on
</VirtualHost>

<MDomain a4.test www.a4.test>
    MDCertificateFile %[6]s
    MDCertificateKeyFile %[7]s
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName a4.test
    ServerAlias www.a4.test
    SSLEngine on
</VirtualHost>
`, s.Root, httpPort, httpsPort, ca.DirectoryURL, caFile, staticCert, staticKey)
		}})
	return &apache{Server: srv, t: t, httpPort: httpPort}
}

// writeSelfSigned writes a self-signed certificate for name and its key
// into dir (readable by Apache's workers) and returns their paths.
func writeSelfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	c := certtest.New(t, certtest.Spec{Names: []string{name}, Serial: big.NewInt(0x61ABF0A858217A5),
		NotBefore: time.Now().Add(-time.Hour).Truncate(time.Second), NotAfter: time.Now().Add(30 * md.Day).Truncate(time.Second)})
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, c.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// list is Apache's /md-status parsed enough to poll it.
type apacheList struct {
	MDs []struct {
		Name    string `json:"name"`
		State   int    `json:"state"`
		Renewal *struct {
			Finished bool `json:"finished"`
			Errors   int  `json:"errors"`
		} `json:"renewal"`
	} `json:"managed-domains"`
}

func (a *apache) waitFor(what string, timeout time.Duration, cond func(apacheList) bool) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last []byte
	for time.Now().Before(deadline) {
		b, err := a.get("/md-status", "")
		if err == nil {
			last = b
			var l apacheList
			if json.Unmarshal(b, &l) == nil && cond(l) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Fatalf("Apache: timed out waiting for %s; last /md-status:\n%s", what, last) // Stop logs error_log
}

// withoutKeys re-encodes a JSON document without the named top-level keys,
// in mod_md's indented form, so that two documents compare byte for byte
// (key order included).
func withoutKeys(t *testing.T, doc []byte, keys ...string) string {
	t.Helper()
	o, err := ParseObject(doc)
	if err != nil {
		t.Fatalf("parsing %s: %v", doc, err)
	}
	for _, k := range keys {
		if list, key, ok := strings.Cut(k, "[]."); ok {
			// drop key from every entry of the list (incomplete MDs only:
			// their renew-at is "now")
			v, _ := o.Get(list)
			raw, _ := v.(json.RawMessage)
			var entries []json.RawMessage
			if err := json.Unmarshal(raw, &entries); err != nil {
				t.Fatalf("%s: %v", list, err)
			}
			out := make([]any, len(entries))
			for i, e := range entries {
				eo, err := ParseObject(e)
				if err != nil {
					t.Fatal(err)
				}
				if st, _ := eo.Get("state"); string(st.(json.RawMessage)) == "1" {
					eo.Del(key)
				}
				out[i] = eo
			}
			o.Set(list, out)
			continue
		}
		o.Del(k)
	}
	b, err := Indent(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// instants are the moments of [t0, t1] that stand for every answer mod_md
// can have given to a request made in between. Its times are whole seconds
// (read back from its JSON) and only their comparison with, and difference
// from, now depend on now: the answer changes only when now reaches a whole
// second. So: t0, each whole second in (t0, t1], and a microsecond (apr's
// resolution) after each whole second in [t0, t1).
func instants(t0, t1 time.Time) []time.Time {
	t0, t1 = t0.Round(0).UTC(), t1.Round(0).UTC()
	out := []time.Time{t0}
	for s := t0.Truncate(time.Second); !s.After(t1); s = s.Add(time.Second) {
		if s.After(t0) {
			out = append(out, s)
		}
		if just := s.Add(time.Microsecond); just.After(t0) && !just.After(t1) {
			out = append(out, just)
		}
	}
	return out
}

// at returns a reader whose clock stands still at now.
func at(r *Reader, now time.Time) *Reader {
	rr := *r
	rr.Now = func() time.Time { return now }
	return &rr
}

// compareWithApache fetches path from Apache and renders ours at each of
// the moments Apache may have answered at (instants): one must equal
// Apache's answer, byte for byte (bar the excluded keys). When none does,
// Apache's watchdog may have changed the store between its answer and our
// reading: try again.
func compareWithApache(t *testing.T, a *apache, path, host string, render func(r *Reader) []byte, r *Reader, exclude ...string) {
	t.Helper()
	var want, got string
	for try := 0; try < 10; try++ {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		t0 := time.Now()
		b, err := a.get(path, host)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		want = withoutKeys(t, b, exclude...)
		for _, now := range instants(t0, t1) {
			if got = withoutKeys(t, render(at(r, now)), exclude...); got == want {
				if testing.Verbose() {
					t.Logf("%s (Host %q) equal to Apache's:\n%s", path, host, got)
				}
				return
			}
		}
	}
	t.Errorf("%s (Host %q): md-status differs from Apache's mod_md\n--- Apache\n%s\n--- md-status\n%s", path, host, want, got)
}

// TestInteropWithApacheModMD runs Debian's Apache httpd with mod_md against
// a local Pebble until its MDs are renewed (staged) and then activated
// (graceful restart), and compares md-status over Apache's store with
// Apache's own md-status and certificate-status handlers at both points:
// a1.test (RSA, stapling with an OCSP responder that does not answer),
// a2.test + www.a2.test (EC and RSA keys), and a3.test, whose renewal
// keeps failing (no usable challenge type) with errors, backoff and log.
//
// It also compares mod_md's lines of server-status?auto (mod_status).
//
// Everything is compared exactly, including what depends on the moment of
// the call ("renew-at" of an incomplete MD is now; server-status prints
// seconds from now): ours is rendered at each moment Apache may have
// answered at (instants). Only the list's "version" is excluded (mod_md's
// version vs mdtools').
func TestInteropWithApacheModMD(t *testing.T) {
	ports, err := devca.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	// Certificates name an OCSP responder that does not answer: mod_md
	// primes stapling for a1.test and records its failing OCSP job.
	ca := devca.StartT(t, devca.Options{HTTPPort: ports[0], TLSPort: ports[1],
		OCSPResponderURL: "http://127.0.0.1:" + strconv.Itoa(ports[2])})
	a := startApache(t, ca, ports[0], ports[1])

	st, err := store.OpenReadOnly(filepath.Join(a.Root, "md"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Reader{Store: st}
	one := func(name string, certStatus bool) func(*Reader) []byte {
		return func(r *Reader) []byte {
			rep, err := r.Load(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			doc := rep.JSON(true)
			if certStatus {
				doc = rep.CertificateStatusJSON()
			}
			b, err := Indent(doc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	list := func(r *Reader) []byte {
		var buf bytes.Buffer
		if err := r.Render(t.Context(), &buf, ViewJSON, nil, DefaultOptions()); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}

	// 1. Renewed into staging, not yet active: state 1, renew, renewal with
	// staged certificates and the job log.
	// a3.test cannot be renewed (no usable challenge type): its renewal
	// fails with errors and a backoff.
	a.waitFor("a1.test and a2.test renewed into staging, a3.test failing", 45*time.Second, func(l apacheList) bool {
		n := 0
		for _, m := range l.MDs {
			if m.Renewal != nil && m.Renewal.Finished || m.Name == "a3.test" && m.Renewal != nil && m.Renewal.Errors > 0 {
				n++
			}
		}
		return n == 3
	})
	for _, name := range []string{"a1.test", "a2.test", "a3.test", "a4.test"} {
		compareWithApache(t, a, "/md-status/"+name, "", one(name, false), r)
	}
	compareWithApache(t, a, "/.httpd/certificate-status", "www.a2.test", one("a2.test", true), r)
	compareServerStatus(t, a, r)

	// 2. Activated by a graceful restart: state 2, certificates, no renewal.
	a.Graceful()
	a.waitFor("a1.test and a2.test complete after the graceful restart", 20*time.Second, func(l apacheList) bool {
		n := 0
		for _, m := range l.MDs {
			if m.State == 2 && m.Renewal == nil {
				n++
			}
		}
		return n == 2
	})
	for _, name := range []string{"a1.test", "a2.test", "a3.test", "a4.test"} {
		compareWithApache(t, a, "/md-status/"+name, "", one(name, false), r)
	}
	compareWithApache(t, a, "/md-status/www.a2.test", "", one("a2.test", false), r)
	compareWithApache(t, a, "/md-status", "", list, r, "version")
	compareServe(t, a, r, "/md-status/nosuch.test", "/md-status/", "/md-status/a1.test")
	compareWithApache(t, a, "/.httpd/certificate-status", "a1.test", one("a1.test", true), r)
	compareServerStatus(t, a, r)
}

// compareServe checks that md-status --serve answers paths with the status
// code and body Apache's md-status handler gives (bar the list's version).
func compareServe(t *testing.T, a *apache, r *Reader, paths ...string) {
	t.Helper()
	var mu sync.Mutex
	var now time.Time // the server's clock: the moment compareWithApache renders at
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := httptest.NewServer(&Handler{Reader: &Reader{Store: r.Store, Now: clock}, Opts: DefaultOptions()})
	defer srv.Close()
	for _, p := range paths {
		compareWithApache(t, a, p, "", func(r *Reader) []byte {
			mu.Lock()
			now = r.Now()
			mu.Unlock()
			resp, err := http.Get(srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("md-status --serve %s: %s (Apache: 200)\n%s", p, resp.Status, b)
			}
			return b
		}, r, "version")
	}
}

// managedLines are mod_md's lines of server-status?auto.
func managedLines(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Managed") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// compareServerStatus compares mod_md's lines of server-status?auto with
// ours, exactly, as compareWithApache does.
func compareServerStatus(t *testing.T, a *apache, r *Reader) {
	t.Helper()
	var want, got string
	var raw []byte
	for try := 0; try < 10; try++ {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		t0 := time.Now()
		b, err := a.get("/server-status?auto", "")
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		raw, want = b, managedLines(b)
		for _, now := range instants(t0, t1) {
			var buf bytes.Buffer
			if err := at(r, now).Render(t.Context(), &buf, ViewServerStatus, nil, DefaultOptions()); err != nil {
				t.Fatal(err)
			}
			if got = managedLines(buf.Bytes()); got == want {
				if testing.Verbose() {
					t.Logf("server-status?auto equal to Apache's:\n%s", got)
				}
				return
			}
		}
	}
	var files []string
	_ = filepath.Walk(r.Store.String(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	t.Errorf("server-status?auto differs from Apache's mod_md\n--- Apache\n%s\n--- md-status\n%s\n--- Apache's whole answer\n%s\nstore: %v", want, got, raw, files)
}

// TestInstants: the moments stand for every whole-second boundary.
func TestInstants(t *testing.T) {
	T := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	us := time.Microsecond
	tests := []struct {
		t0, t1 time.Time
		want   []time.Time
	}{
		{T.Add(100 * ms), T.Add(200 * ms), []time.Time{T.Add(100 * ms)}},
		{T, T.Add(200 * ms), []time.Time{T, T.Add(us)}},
		{T.Add(900 * ms), T.Add(1100 * ms), []time.Time{T.Add(900 * ms), T.Add(time.Second), T.Add(time.Second + us)}},
	}
	for _, tc := range tests {
		got := instants(tc.t0, tc.t1)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("instants(%v, %v) = %v; want %v", tc.t0, tc.t1, got, tc.want)
		}
	}
}
