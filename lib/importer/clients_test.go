package importer

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// importT imports with no request reaching the CA, and checks the outcome
// every import must have: every account and certificate imported, one
// record per MD.
func importT(t *testing.T, ca *devca.CA, st *store.Store, o Options, mds int) *Result {
	t.Helper()
	var res *Result
	noCARequest(t, ca, func() {
		var err error
		if res, err = Import(context.Background(), st, o); err != nil {
			t.Fatal(err)
		}
	})
	if res.Failed {
		t.Errorf("import failed for some: %+v", res.Report)
	}
	for _, a := range res.Report.Accounts {
		if a.Status != StatusImported {
			t.Errorf("account %s: %s (%s); want imported", a.Source, a.Status, a.Detail)
		}
	}
	for _, c := range res.Report.Certificates {
		if c.Status != StatusImported {
			t.Errorf("certificate %s: %s (%s); want imported", c.Source, c.Status, c.Detail)
		}
	}
	if len(res.Records) != mds {
		t.Fatalf("%d records; want %d", len(res.Records), mds)
	}
	t.Logf("%s: imported %d account(s), %d certificate(s) into %d MD(s), CA requests during the import: 0",
		o.Client, len(res.Report.Accounts), len(res.Report.Certificates), len(res.Records))
	return res
}

func recordNamed(t *testing.T, res *Result, name string) *md.Record {
	t.Helper()
	for _, r := range res.Records {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no record %s in %d records", name, len(res.Records))
	return nil
}

// TestCertbot: Debian's certbot obtains two lineages from Pebble (an ECDSA
// one with its standalone server on a mapped port, an RSA one through a
// webroot, with a deploy hook); the import takes both and the account over without a CA
// request, byte for byte; md-order finds nothing due; forced renewals use
// the imported account; a second import changes nothing.
func TestCertbot(t *testing.T) {
	t.Parallel()
	ca := startCA(t)
	dir := t.TempDir()
	le := filepath.Join(dir, "letsencrypt")
	certbot := func(args ...string) {
		base := []string{"certonly", "--non-interactive", "--agree-tos", "--no-eff-email", "-m", "admin@example.org",
			"--server", ca.DirectoryURL, "--config-dir", le, "--work-dir", filepath.Join(dir, "work"), "--logs-dir", filepath.Join(dir, "logs")}
		runClient(t, []string{"REQUESTS_CA_BUNDLE=" + ca.RootsFile}, "certbot", append(base, args...)...)
	}
	port := strconv.Itoa(ca.HTTPPort)
	certbot("--standalone", "--http-01-port", port, "--http-01-address", "127.0.0.1", "-d", "a.example.org", "-d", "www.a.example.org")
	webroot := filepath.Join(dir, "www")
	if err := os.Mkdir(webroot, 0o755); err != nil {
		t.Fatal(err)
	}
	stopWeb := serveWebroot(t, ca, webroot)
	certbot("--webroot", "-w", webroot, "--key-type", "rsa", "--rsa-key-size", "3072", "-d", "b.example.org",
		"--deploy-hook", "systemctl reload nginx")

	st, stDir := openStore(t)
	toml := filepath.Join(dir, "md.toml")
	res := importT(t, ca, st, Options{Client: Certbot, Dir: le, StoreDir: stDir, TOMLPath: toml}, 2)

	id, acctURL := certbotAccountImported(t, ca, st, le, res)

	// the certificates, byte for byte, under mod_md's names
	live := filepath.Join(le, "live")
	sameFile(t, st, "a.example.org", "pubcert.secp256r1.pem", filepath.Join(live, "a.example.org", "fullchain.pem"))
	sameFile(t, st, "a.example.org", "privkey.secp256r1.pem", filepath.Join(live, "a.example.org", "privkey.pem"))
	sameFile(t, st, "b.example.org", "pubcert.pem", filepath.Join(live, "b.example.org", "fullchain.pem"))
	sameFile(t, st, "b.example.org", "privkey.pem", filepath.Join(live, "b.example.org", "privkey.pem"))

	a, b := recordNamed(t, res, "a.example.org"), recordNamed(t, res, "b.example.org")
	if a.CA == nil || a.CA.Account != id || b.CA == nil || b.CA.Account != id || a.State != md.StateComplete || b.State != md.StateComplete {
		t.Errorf("records: a %+v state %d, b %+v state %d; want ca.account %s, complete", a.CA, a.State, b.CA, b.State, id)
	}
	if a.Host == nil || a.Host.HTTPListen != "127.0.0.1:"+port || b.Host == nil || b.Host.Webroot != webroot {
		t.Errorf("hosts: a %+v, b %+v; want certbot's standalone address and webroot", a.Host, b.Host)
	}
	if got := b.PrivKey; len(got) != 1 || got[0].Type != md.KeyRSA || got[0].Bits != 3072 {
		t.Errorf("b.example.org privkey %+v; want RSA 3072", got)
	}
	if !strings.Contains(string(readFile(t, toml)), "systemctl reload nginx") || !hasNote(res, "live/b.example.org", "certbot renew_hook") {
		t.Errorf("the deploy hook is not reported as not carried over:\n%s", readFile(t, toml))
	}

	// a second import changes nothing
	again, err := Import(context.Background(), st, Options{Client: Certbot, Dir: le, StoreDir: stDir})
	if err != nil || again.Failed {
		t.Fatalf("second import: %v %+v", err, again)
	}
	for _, c := range again.Report.Certificates {
		if c.Status != StatusUnchanged {
			t.Errorf("second import: %s %s; want unchanged", c.Source, c.Status)
		}
	}
	if again.Report.Accounts[0].Status != StatusUnchanged || again.Report.Accounts[0].ID != id {
		t.Errorf("second import: account %+v; want unchanged %s", again.Report.Accounts[0], id)
	}

	orderNone(t, ca, st, res.Records)
	forceRenewal(t, ca, st, b, "", acctURL)
	stopWeb()
	forceRenewal(t, ca, st, a, "", acctURL)

}

// certbotAccountImported checks that certbot's one account is in the store
// with its URL and key, and returns its id and URL.
func certbotAccountImported(t *testing.T, ca *devca.CA, st *store.Store, le string, res *Result) (string, string) {
	t.Helper()
	acctDirs, _ := filepath.Glob(filepath.Join(le, "accounts", "*", "*", "*"))
	if len(acctDirs) != 1 || len(res.Report.Accounts) != 1 {
		t.Fatalf("certbot has accounts %v; report %+v", acctDirs, res.Report.Accounts)
	}
	var regr struct{ URI string }
	var jwk struct{ N string }
	_ = json.Unmarshal(readFile(t, filepath.Join(acctDirs[0], "regr.json")), &regr)
	_ = json.Unmarshal(readFile(t, filepath.Join(acctDirs[0], "private_key.json")), &jwk)
	id := res.Report.Accounts[0].ID
	f, key := storedAccount(t, st, id)
	n, _ := base64.RawURLEncoding.DecodeString(jwk.N)
	if rk, ok := key.(*rsa.PrivateKey); !ok || rk.N.Cmp(new(big.Int).SetBytes(n)) != 0 {
		t.Errorf("accounts/%s/account.pem is not certbot's account key", id)
	}
	if f.URL != regr.URI || f.CAURL != ca.DirectoryURL || f.Status != "valid" {
		t.Errorf("accounts/%s/account.json: %+v; want url %s, ca-url %s", id, f, regr.URI, ca.DirectoryURL)
	}

	return id, regr.URI
}

func hasNote(res *Result, source, what string) bool {
	for _, c := range res.Report.Certificates {
		for _, n := range c.NotCarried {
			if c.Source == source && n.What == what {
				return true
			}
		}
	}
	return false
}

// TestLego: Debian's lego obtains an ECDSA and an RSA certificate from
// Pebble with its own http-01 server; the import (given the CA URL, which
// lego does not keep) takes them and the account over; md-order finds
// nothing due and a forced renewal (md-order --http-listen, since lego
// keeps no record of its challenge) uses the imported account.
func TestLego(t *testing.T) {
	t.Parallel()
	ca := startCA(t)
	dir := filepath.Join(t.TempDir(), ".lego")
	lego := func(args ...string) {
		base := []string{"--server", ca.DirectoryURL, "--email", "admin@example.org", "--accept-tos", "--path", dir,
			"--http", "--http.port", "127.0.0.1:" + strconv.Itoa(ca.HTTPPort)}
		runClient(t, []string{"LEGO_CA_CERTIFICATES=" + ca.RootsFile}, "lego", append(append(base, args...), "run")...)
	}
	lego("--domains", "c.example.org") // one name: lego waits 5 s per authorization
	lego("--key-type", "rsa2048", "--domains", "d.example.org")

	st, stDir := openStore(t)
	res := importT(t, ca, st, Options{Client: Lego, Dir: dir, Server: ca.DirectoryURL, StoreDir: stDir}, 2)

	var af struct {
		Registration struct{ URI string } `json:"registration"`
	}
	adir := filepath.Join(dir, "accounts", strings.ReplaceAll(strings.TrimPrefix(strings.TrimSuffix(ca.DirectoryURL, "/dir"), "https://"), ":", "_"), "admin@example.org")
	_ = json.Unmarshal(readFile(t, filepath.Join(adir, "account.json")), &af)
	id := res.Report.Accounts[0].ID
	f, key := storedAccount(t, st, id)
	block, _ := pem.Decode(readFile(t, filepath.Join(adir, "keys", "admin@example.org.key")))
	want, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if ek, ok := key.(*ecdsa.PrivateKey); !ok || !ek.Equal(want) {
		t.Errorf("accounts/%s/account.pem is not lego's account key", id)
	}
	if f.URL != af.Registration.URI || f.CAURL != ca.DirectoryURL || len(f.Contact) != 1 || f.Contact[0] != "mailto:admin@example.org" {
		t.Errorf("accounts/%s/account.json: %+v; want url %s", id, f, af.Registration.URI)
	}
	certs := filepath.Join(dir, "certificates")
	sameFile(t, st, "c.example.org", "pubcert.secp256r1.pem", filepath.Join(certs, "c.example.org.crt"))
	sameFile(t, st, "c.example.org", "privkey.secp256r1.pem", filepath.Join(certs, "c.example.org.key"))
	sameFile(t, st, "d.example.org", "pubcert.pem", filepath.Join(certs, "d.example.org.crt"))
	sameFile(t, st, "d.example.org", "privkey.pem", filepath.Join(certs, "d.example.org.key"))
	if !hasNote(res, "certificates/c.example.org.crt", "lego challenge") {
		t.Errorf("lego's unknown challenge is not reported")
	}

	orderNone(t, ca, st, res.Records)
	forceRenewal(t, ca, st, recordNamed(t, res, "d.example.org"), "127.0.0.1:"+strconv.Itoa(ca.HTTPPort), af.Registration.URI)

	// without --server the accounts' CA is unknown: reported, exit 1
	st2, st2Dir := openStore(t)
	res2, err := Import(context.Background(), st2, Options{Client: Lego, Dir: dir, StoreDir: st2Dir})
	if err != nil || !res2.Failed || res2.Report.Accounts[0].Status != StatusSkipped || !strings.Contains(res2.Report.Accounts[0].Detail, "--server") {
		t.Errorf("import without --server: %v, %+v; want the account skipped, naming --server", err, res2)
	}
}
