package importer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// startCA starts Pebble with one 90-day profile (so that no certificate is
// a 6-day one by chance) and a Retry-After of a second on authorization
// polls. (lego still waits five seconds per authorization: it reads
// Retry-After from the challenge response, where Pebble sends none.)
func startCA(t *testing.T) *devca.CA {
	t.Helper()
	return devca.StartT(t, devca.Options{
		Profiles:        map[string]devca.Profile{"default": devca.DefaultProfiles["default"]},
		RetryAfterAuthz: 1,
	})
}

// pebbleLog is Pebble's log so far: a line for every request it answers.
func pebbleLog(t *testing.T, ca *devca.CA) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ca.Dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

var (
	pebbleAccounts = regexp.MustCompile(`There are now (\d+) accounts in memory`)
	pebbleTaskAcct = regexp.MustCompile(`AccountURL:"([^"]+)"`)
)

// accountsAt is how many accounts Pebble has.
func accountsAt(t *testing.T, ca *devca.CA) int {
	t.Helper()
	m := pebbleAccounts.FindAllStringSubmatch(pebbleLog(t, ca), -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// validatedFor lists the accounts whose challenges Pebble validated in
// the log after offset.
func validatedFor(t *testing.T, ca *devca.CA, offset int) []string {
	t.Helper()
	var out []string
	for _, m := range pebbleTaskAcct.FindAllStringSubmatch(pebbleLog(t, ca)[offset:], -1) {
		out = append(out, m[1])
	}
	return out
}

// runClient runs a real ACME client and fails the test with its output.
func runClient(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// serveWebroot serves dir on the port Pebble validates http-01 on, as a
// web server with a webroot does; stop ends it.
func serveWebroot(t *testing.T, ca *devca.CA, dir string) (stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ca.HTTPPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { _ = srv.Serve(l); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sameFile checks that the store holds a client's file byte for byte.
func sameFile(t *testing.T, st *store.Store, name, file, clientFile string) {
	t.Helper()
	got, err := st.Read(context.Background(), store.GroupDomains, name, file)
	if err != nil {
		t.Fatal(err)
	}
	if want := readFile(t, clientFile); !bytes.Equal(got, want) {
		t.Errorf("domains/%s/%s differs from %s", name, file, clientFile)
	}
}

// storedAccount is the account the store keeps under id.
func storedAccount(t *testing.T, st *store.Store, id string) (acmeflow.AccountFile, crypto.Signer) {
	t.Helper()
	var f acmeflow.AccountFile
	if err := st.LoadJSON(context.Background(), store.GroupAccounts, id, store.FileAccount, &f); err != nil {
		t.Fatal(err)
	}
	key, err := st.LoadKey(context.Background(), store.GroupAccounts, id, store.FileAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	return f, key
}

// runner is md-order's engine on the store; httpListen is md-order's
// --http-listen ("" for none).
func runner(t *testing.T, ca *devca.CA, st *store.Store, httpListen string, force bool) *acmeflow.Runner {
	t.Helper()
	mgr, err := challenge.New(st, challenge.Options{HTTPListen: httpListen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	return &acmeflow.Runner{Store: st, Challenges: mgr, CAFiles: []string{ca.RootsFile}, Force: force}
}

// copyRecord is a fresh copy of an import's record, as md-order reads it
// from the stream.
func copyRecord(t *testing.T, r *md.Record) *md.Record {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var out md.Record
	if err := out.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return &out
}

// orderNone checks that md-order finds nothing due for every record.
func orderNone(t *testing.T, ca *devca.CA, st *store.Store, recs []*md.Record) {
	t.Helper()
	r := runner(t, ca, st, "", false)
	for _, rec := range recs {
		rec = copyRecord(t, rec)
		if err := r.Process(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if rec.Order == nil || rec.Order.Action != acmeflow.ActionNone || rec.Error != nil {
			t.Errorf("md-order on %s: order %+v error %+v; want action none", rec.Name, rec.Order, rec.Error)
		}
	}
}

// forceRenewal orders rec again (md-order --force) and checks that the
// imported account did it: no new account at Pebble, none staged, and
// every challenge validated for acctURL. Pebble reuses a valid
// authorization about 1% of the time even with PEBBLE_AUTHZREUSE=0 (see
// devca.Options.Env); a renewal that validated nothing proves nothing
// about the account, so it is forced again (at most 3 times).
func forceRenewal(t *testing.T, ca *devca.CA, st *store.Store, rec *md.Record, httpListen, acctURL string) {
	t.Helper()
	for try := 1; ; try++ {
		got, done := forceOnce(t, ca, st, rec, httpListen)
		if len(got) == 0 && try < 3 {
			t.Logf("forced renewal of %s validated no challenge (Pebble reused an authorization); again", rec.Name)
			continue
		}
		if len(got) == 0 {
			t.Errorf("forced renewal of %s: Pebble validated no challenge in %d tries", rec.Name, try)
		}
		for _, u := range got {
			if u != acctURL {
				t.Errorf("forced renewal of %s used account %s; want the imported %s", rec.Name, u, acctURL)
			}
		}
		if len(done.Order.Certs) != len(done.PrivKey.Effective()) {
			t.Errorf("forced renewal of %s: %d certificates; want one per key spec (%d)", rec.Name, len(done.Order.Certs), len(done.PrivKey.Effective()))
		}
		return
	}
}

// forceOnce runs one forced renewal of rec, checks that no account was
// registered or staged, and returns the accounts Pebble validated
// challenges for and the processed record.
func forceOnce(t *testing.T, ca *devca.CA, st *store.Store, rec *md.Record, httpListen string) ([]string, *md.Record) {
	t.Helper()
	accts, offset := accountsAt(t, ca), len(pebbleLog(t, ca))
	rec = copyRecord(t, rec)
	r := runner(t, ca, st, httpListen, true)
	err := r.Process(context.Background(), rec)
	// as md-order at its end: the listener and its lock go, so that a
	// try again (forceRenewal) can listen on the same address
	if c, ok := r.Challenges.(interface{ Close() error }); ok {
		c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if rec.Order == nil || rec.Order.Action != acmeflow.ActionOrdered || rec.Error != nil {
		t.Fatalf("forced renewal of %s: order %+v error %+v\n%s", rec.Name, rec.Order, rec.Error, pebbleLog(t, ca)[offset:])
	}
	if n := accountsAt(t, ca); n != accts {
		t.Errorf("forced renewal of %s: Pebble has %d accounts, had %d: a new account was registered", rec.Name, n, accts)
	}
	if st.Exists(context.Background(), store.GroupStaging, rec.Name, store.FileAccount) {
		t.Errorf("forced renewal of %s staged a new account", rec.Name)
	}
	return validatedFor(t, ca, offset), rec
}

// noCARequest runs f and checks that Pebble answered nothing meanwhile.
func noCARequest(t *testing.T, ca *devca.CA, f func()) {
	t.Helper()
	before := len(pebbleLog(t, ca))
	f()
	if extra := pebbleLog(t, ca)[before:]; extra != "" {
		t.Errorf("the import sent requests to the CA:\n%s", extra)
	}
}

// register creates an account at Pebble, as acme.sh --register-account.
func register(t *testing.T, ca *devca.CA, key crypto.Signer) (*acme.Client, string) {
	t.Helper()
	c := &acme.Client{Key: key, DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	a, err := c.Register(context.Background(), &acme.Account{Contact: []string{"mailto:admin@example.org"}}, acme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	return c, a.URI
}

// issue obtains a certificate from Pebble with the client's account,
// answering http-01 through the webroot (served by serveWebroot), as
// acme.sh does in webroot mode. It returns the chain's DER.
func issue(t *testing.T, c *acme.Client, certKey crypto.Signer, webroot string, names ...string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(webroot, ".well-known", "acme-challenge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range z.Challenges {
			if ch.Type != "http-01" || z.Status != acme.StatusPending {
				continue
			}
			body, err := c.HTTP01ChallengeResponse(ch.Token)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ch.Token), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Accept(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		t.Fatal(err)
	}
	der, _, err := c.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
