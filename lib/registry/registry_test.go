package registry

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apacheconf"
	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/tomlconf"
)

const testdata = "../../testdata/registry"

// parseTOML makes records the way md-parse does for an md.toml.
func parseTOML(t testing.TB, conf string) []*md.Record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "md.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := tomlconf.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return pc.Records
}

func openStore(t testing.TB) (*store.Store, string) {
	ctx := t.Context()
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// fileID identifies one version of a file: an atomic rewrite changes the
// inode even when the clock does not move.
type fileID struct {
	fi os.FileInfo
}

func stat(t *testing.T, path string) fileID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileID{fi}
}

func (a fileID) same(b fileID) bool {
	return os.SameFile(a.fi, b.fi) && a.fi.ModTime().Equal(b.fi.ModTime())
}

func sync(t *testing.T, st *store.Store, recs []*md.Record, opts Options) *Result {
	t.Helper()
	res, err := Sync(context.Background(), st, recs, opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

const twoDomains = `
[global]
contact-email = "admin@example.org"
certificate-agreement = "accepted"
webroot = "/srv/www"

[[domain]]
domains = ["a.example", "www.a.example"]

[[domain]]
domains = ["b.example"]
renew-window = "14d"
`

func TestFirstSyncWritesSecondWritesNothing(t *testing.T) {
	st, dir := openStore(t)
	recs := parseTOML(t, twoDomains)
	res := sync(t, st, recs, Options{})
	if got := sorted(res.Written); !reflect.DeepEqual(got, []string{"a.example", "b.example"}) {
		t.Errorf("first sync wrote %v; want both", got)
	}
	if !res.HTTPD {
		t.Error("first sync did not write httpd.json (http reachable, https not)")
	}
	httpd, err := os.ReadFile(filepath.Join(dir, "httpd.json"))
	if err != nil || string(httpd) != "{\n  \"proto\": {\n    \"http\": true,\n    \"https\": false\n  }\n}\n" {
		t.Errorf("httpd.json = %q, %v", httpd, err)
	}
	// the stored definition is mod_md's md.json of the record
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if m.State != md.StateIncomplete || m.StateDescr != "certificate(rsa) is missing" {
		t.Errorf("state = %d %q; want 1 \"certificate(rsa) is missing\"", m.State, m.StateDescr)
	}
	if recs[0].State != md.StateIncomplete || recs[0].StateDescr != m.StateDescr {
		t.Errorf("record state not filled: %d %q", recs[0].State, recs[0].StateDescr)
	}
	want, _ := md.StoreJSON(recs[0].MD)
	got, _ := os.ReadFile(filepath.Join(dir, "domains", "a.example", "md.json"))
	if !bytes.Equal(got, want) {
		t.Errorf("md.json:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "domains", "a.example", "md.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("md.json mode %v; want 0600", fi.Mode().Perm())
	}

	files := []string{
		filepath.Join(dir, "domains", "a.example", "md.json"),
		filepath.Join(dir, "domains", "b.example", "md.json"),
		filepath.Join(dir, "httpd.json"),
	}
	var before []fileID
	for _, f := range files {
		before = append(before, stat(t, f))
	}
	time.Sleep(10 * time.Millisecond)
	res = sync(t, st, parseTOML(t, twoDomains), Options{})
	if len(res.Written) != 0 || res.HTTPD || len(res.Renamed) != 0 {
		t.Errorf("second sync did something: %+v", res)
	}
	if got := sorted(res.Unchanged); !reflect.DeepEqual(got, []string{"a.example", "b.example"}) {
		t.Errorf("unchanged = %v", got)
	}
	for i, f := range files {
		if !stat(t, f).same(before[i]) {
			t.Errorf("%s was rewritten by the second sync", f)
		}
	}
}

// TestChanges checks which config changes rewrite md.json: those mod_md's
// md_reg_sync_finish compares, not the others.
func TestChanges(t *testing.T) {
	base := "[global]\nwebroot = \"/srv\"\ncontact-email = \"a@a.example\"\n\n[[domain]]\ndomains = [\"a.example\", \"www.a.example\"]\n"
	wild := strings.Replace(base, `"www.a.example"]`, `"*.a.example"]`, 1)
	tests := []struct {
		name    string
		extra   string
		rewrite bool
	}{
		{"nothing", "", false},
		{"renew-window", "renew-window = \"20d\"\n", true},
		{"same window, other spelling", "renew-window = \"33%\"\n", false},
		{"warn-window", "warn-window = \"5%\"\n", true},
		{"renew-mode", "renew-mode = \"always\"\n", true},
		{"private-keys", "private-keys = \"secp384r1\"\n", true},
		{"must-staple", "must-staple = true\n", true},
		{"stapling", "stapling = true\n", true},
		{"require-https", "require-https = \"permanent\"\n", true},
		{"ca", "certificate-authority = \"LetsEncrypt-Test\"\n", true},
		{"agreement", "certificate-agreement = \"accepted\"\n", true},
		{"challenges", "ca-challenges = [\"http-01\"]\n", true},
		{"contacts", "contact-email = \"b@a.example\"\n", true},
		{"members", "members = \"manual\"\n", true},
		{"ari", "renew-via-ari = false\n", true},
		{"profile-mandatory", "profile-mandatory = true\n", true},
		{"acme-tls/1", "tls-listen = \":443\"\n", true},
		// not compared by mod_md: no rewrite on their own
		{"profile", "profile = \"shortlived\"\n", false},
		{"proxy", "http-proxy = \"http://proxy.test:3128\"\n", false},
		{"dns-01 command", "challenge-dns01 = [\"/bin/hook\"]\n", false},
		{"ca-certs", "ca-certificate-file = \"/etc/ca.pem\"\n", false},
		// compared although mod_md does not: md-order reads the HMAC from the store
		{"eab", "external-account-binding = { kid = \"k\", hmac = \"aG1hYw\" }\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			sync(t, st, parseTOML(t, base), Options{})
			path := filepath.Join(dir, "domains", "a.example", "md.json")
			before := stat(t, path)
			res := sync(t, st, parseTOML(t, base+tc.extra), Options{})
			rewritten := !stat(t, path).same(before)
			if rewritten != tc.rewrite || (len(res.Written) == 1) != tc.rewrite {
				t.Errorf("rewritten = %v, result %+v; want rewrite %v", rewritten, res, tc.rewrite)
			}
		})
	}
	t.Run("wildcard replaced by a name it covers", func(t *testing.T) {
		st, _ := openStore(t)
		sync(t, st, parseTOML(t, wild), Options{})
		res := sync(t, st, parseTOML(t, base), Options{})
		m, _ := st.LoadMD(t.Context(), store.GroupDomains, "a.example")
		if len(res.Written) != 1 || m == nil || !reflect.DeepEqual(m.Domains, []string{"a.example", "www.a.example"}) {
			t.Errorf("result %+v, stored %+v", res, m)
		}
	})
}

// TestKeepsStoredValues: ca.account, the effective CA URL and contacts the
// config lacks come from the store, into the file and into the record.
func TestKeepsStoredValues(t *testing.T) {
	st, _ := openStore(t)
	conf := "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\n"
	sync(t, st, parseTOML(t, "[global]\ncontact-email = \"old@a.example\"\n"+conf), Options{})
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	m.CA.Account = "ACME-ca.test-0000"
	m.CA.URL = "https://acme-v02.api.letsencrypt.org/directory"
	if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
		t.Fatal(err)
	}

	// the config now has no contact and a new window: rewritten, but the
	// account, URL and contact stay
	recs := parseTOML(t, conf+"renew-window = \"10d\"\n")
	res := sync(t, st, recs, Options{})
	if !reflect.DeepEqual(res.Written, []string{"a.example"}) {
		t.Fatalf("written = %v", res.Written)
	}
	r := recs[0]
	if r.CA.Account != "ACME-ca.test-0000" || r.CA.URL != m.CA.URL || !reflect.DeepEqual(r.Contacts, []string{"mailto:old@a.example"}) {
		t.Errorf("record not filled from the store: ca %+v contacts %v", r.CA, r.Contacts)
	}
	m2, _ := st.LoadMD(t.Context(), store.GroupDomains, "a.example")
	if m2.CA.Account != "ACME-ca.test-0000" || m2.RenewWindow.String() != "10d" || len(m2.Contacts) != 1 {
		t.Errorf("stored = %+v %+v", m2.CA, m2)
	}
}

// selfSigned makes a certificate for names, with must-staple if asked.
func selfSigned(t *testing.T, names []string, staple bool) []byte {
	t.Helper()
	s := certtest.Spec{Names: names, NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	if staple {
		s.Extensions = []pkix.Extension{{Id: renew.OIDTLSFeature, Value: renew.MustStapleValue}}
	}
	return certtest.New(t, s).PEM()
}

// otherKeyPEM is a private key that belongs to no certificate.
func otherKeyPEM(t *testing.T) []byte {
	return certtest.New(t, certtest.Spec{}).KeyPEM(t)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		name      string
		conf      string
		files     map[string][]byte // under domains/a.example/
		state     int
		descr     string
		staticPEM []byte
	}{
		{"missing", "", nil, md.StateIncomplete, "certificate(rsa) is missing", nil},
		{"complete", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false)}, md.StateComplete, "", nil},
		{"wildcard SAN covers", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "*.a.example"}, false)}, md.StateComplete, "", nil},
		{"not covering", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example"}, false)}, md.StateIncomplete, "certificate(rsa) does not cover all domains.", nil},
		{"must-staple wanted", "must-staple = true\n", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false)}, md.StateIncomplete, "'must-staple' is requested, but certificate(rsa) has it not enabled.", nil},
		{"must-staple unwanted", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, true)}, md.StateIncomplete, "'must-staple' is not requested, but certificate(rsa) has it enabled.", nil},
		{"must-staple both", "must-staple = true\n", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, true)}, md.StateComplete, "", nil},
		{"second key missing", "private-keys = [\"RSA\", \"secp384r1\"]\n", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false)}, md.StateIncomplete, "certificate(secp384r1) is missing", nil},
		{"unreadable", "", map[string][]byte{"pubcert.pem": []byte("garbage")}, md.StateError, "error initializing", nil},
		{"key of another certificate", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false), "privkey.pem": otherKeyPEM(t)}, md.StateIncomplete, "certificate(rsa) does not match its private key.", nil},
		{"static file", "certificate-file = \"cert.pem\"\ncertificate-key-file = \"key.pem\"\n", nil, md.StateComplete, "", selfSigned(t, []string{"a.example", "www.a.example"}, false)},
		{"static file missing", "certificate-file = \"nope.pem\"\ncertificate-key-file = \"key.pem\"\n", nil, md.StateIncomplete, "certificate(rsa) is missing", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			for f, data := range tc.files {
				writeFile(t, filepath.Join(dir, "domains", "a.example", f), data)
			}
			confDir := t.TempDir()
			if tc.staticPEM != nil {
				writeFile(t, filepath.Join(confDir, "cert.pem"), tc.staticPEM)
			}
			conf := "[[domain]]\ndomains = [\"a.example\", \"www.a.example\"]\nwebroot = \"/srv\"\n" + tc.conf
			path := filepath.Join(confDir, "md.toml")
			writeFile(t, path, []byte(conf))
			pc, err := tomlconf.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sync(t, st, pc.Records, Options{})
			r := pc.Records[0]
			if r.State != tc.state || r.StateDescr != tc.descr {
				t.Errorf("state = %d %q; want %d %q", r.State, r.StateDescr, tc.state, tc.descr)
			}
		})
	}
}

func TestRename(t *testing.T) {
	tests := []struct {
		name    string
		stored  map[string][]string // stored MD name -> its domains
		conf    string              // domains = [...] of the one configured MD
		renamed map[string]string
	}{
		{"first name removed", map[string][]string{"a.example": {"a.example", "www.a.example", "b.a.example"}},
			`["www.a.example", "b.a.example"]`, map[string]string{"a.example": "www.a.example"}},
		{"names reordered", map[string][]string{"a.example": {"a.example", "www.a.example"}},
			`["www.a.example", "a.example"]`, map[string]string{"a.example": "www.a.example"}},
		{"most overlap wins", map[string][]string{"x.example": {"x.example", "c.example"}, "y.example": {"y.example", "c.example", "d.example"}},
			`["new.example", "c.example", "d.example"]`, map[string]string{"y.example": "new.example"}},
		{"containing wins over overlap", map[string][]string{"x.example": {"x.example", "c.example", "d.example", "e.example"}, "y.example": {"y.example", "c.example", "d.example"}},
			`["new.example", "c.example"]`, map[string]string{"x.example": "new.example"}},
		{"wildcard contains the new names", map[string][]string{"w.example": {"w.example", "*.w.example"}},
			`["www.w.example", "mail.w.example"]`, map[string]string{"w.example": "www.w.example"}},
		{"no overlap: new", map[string][]string{"x.example": {"x.example"}},
			`["new.example"]`, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			certs := map[string][]byte{}
			for name, domains := range tc.stored {
				m := &md.MD{Name: name, Domains: domains, CA: &md.CA{Account: "ACME-ca.test-0001", Proto: "ACME", URL: md.DefaultCA, URLs: []string{md.DefaultCA}}, State: md.StateComplete, RenewMode: 1}
				if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
					t.Fatal(err)
				}
				certs[name] = selfSigned(t, domains, false)
				writeFile(t, filepath.Join(dir, "domains", name, "pubcert.pem"), certs[name])
				writeFile(t, filepath.Join(dir, "staging", name, "job.json"), []byte(`{"name":"`+name+`"}`))
			}
			conf := "[global]\nwebroot = \"/srv\"\n[[domain]]\ndomains = " + tc.conf + "\n"

			// a dry run reports the rename and moves nothing
			res := sync(t, st, parseTOML(t, conf), Options{DryRun: true})
			if !reflect.DeepEqual(res.Renamed, tc.renamed) {
				t.Errorf("dry run renamed %v; want %v", res.Renamed, tc.renamed)
			}
			for name := range tc.stored {
				if _, err := os.Stat(filepath.Join(dir, "domains", name)); err != nil {
					t.Errorf("dry run touched domains/%s: %v", name, err)
				}
			}

			recs := parseTOML(t, conf)
			res = sync(t, st, recs, Options{})
			if !reflect.DeepEqual(res.Renamed, tc.renamed) {
				t.Errorf("renamed %v; want %v", res.Renamed, tc.renamed)
			}
			r := recs[0]
			for old, nw := range tc.renamed {
				for _, g := range []string{"domains", "staging"} {
					if _, err := os.Stat(filepath.Join(dir, g, old)); !os.IsNotExist(err) {
						t.Errorf("%s/%s still there: %v", g, old, err)
					}
				}
				got, err := os.ReadFile(filepath.Join(dir, "domains", nw, "pubcert.pem"))
				if err != nil || !bytes.Equal(got, certs[old]) {
					t.Errorf("certificate not kept under the new name: %v", err)
				}
				if _, err := os.Stat(filepath.Join(dir, "staging", nw, "job.json")); err != nil {
					t.Errorf("staging not moved: %v", err)
				}
				m, err := st.LoadMD(t.Context(), store.GroupDomains, nw)
				if err != nil || m.Name != nw || !reflect.DeepEqual(m.Domains, r.Domains) {
					t.Errorf("stored md under new name = %+v, %v", m, err)
				}
				if r.CA.Account != "ACME-ca.test-0001" {
					t.Errorf("account not carried over: %+v", r.CA)
				}
				if covers := len(tc.stored[old]) >= len(r.Domains); covers && containsDomains(&md.MD{Domains: tc.stored[old]}, &r.MD) && r.State != md.StateComplete {
					t.Errorf("state = %d %q; the kept certificate covers the names", r.State, r.StateDescr)
				}
			}
			if len(tc.renamed) == 0 {
				if r.CA.Account != "" {
					t.Errorf("a new MD got an account: %+v", r.CA)
				}
				for name := range tc.stored {
					if _, err := os.Stat(filepath.Join(dir, "domains", name)); err != nil {
						t.Errorf("unrelated domains/%s disturbed: %v", name, err)
					}
				}
			}
			// and the next sync is quiet
			res = sync(t, st, parseTOML(t, conf), Options{})
			if len(res.Written) != 0 || len(res.Renamed) != 0 {
				t.Errorf("sync after rename not quiet: %+v", res)
			}
		})
	}
}

func TestCorruptStoredMD(t *testing.T) {
	st, dir := openStore(t)
	writeFile(t, filepath.Join(dir, "domains", "b.example", "md.json"), []byte(`{"name": "b.example", "domains": [`))
	recs := parseTOML(t, twoDomains)
	_, err := Sync(context.Background(), st, recs, Options{})
	var ce *store.CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Join("domains", "b.example", "md.json")) {
		t.Fatalf("err = %v; want a CorruptError naming domains/b.example/md.json", err)
	}
	for _, f := range []string{"domains/a.example", "httpd.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s was written despite the error (%v)", f, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dir, "domains", "b.example", "md.json"))
	if string(got) != `{"name": "b.example", "domains": [` {
		t.Errorf("corrupt file was touched: %q", got)
	}
}

func TestLocked(t *testing.T) {
	st, dir := openStore(t)
	unlock, err := st.Lock(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Sync(context.Background(), st, parseTOML(t, twoDomains), Options{Wait: -1})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("err = %v; want one wrapping store.ErrLocked", err)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "domains")); len(names) != 0 {
		t.Errorf("locked sync wrote %v", names)
	}
	// a dry run needs no lock
	res := sync(t, st, parseTOML(t, twoDomains), Options{DryRun: true, Wait: -1})
	if len(res.Written) != 2 {
		t.Errorf("dry run result %+v", res)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	st, dir := openStore(t)
	recs := parseTOML(t, twoDomains)
	res := sync(t, st, recs, Options{DryRun: true})
	if len(res.Written) != 2 || !res.HTTPD {
		t.Errorf("dry run result %+v; want 2 written and httpd.json", res)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "domains")); len(names) != 0 {
		t.Errorf("dry run wrote %v", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "httpd.json")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote httpd.json")
	}
	if recs[0].State != md.StateIncomplete {
		t.Errorf("dry run did not fill the record's state: %d", recs[0].State)
	}
}

func TestHTTPD(t *testing.T) {
	tests := []struct {
		name     string
		existing string // "" = none
		conf     string
		write    bool
	}{
		{"absent means reachable", "", "webroot = \"/srv\"\ntls-listen = \":443\"\n", false},
		{"absent, https unreachable", "", "webroot = \"/srv\"\n", true},
		{"same", `{"proto":{"http":true,"https":false}}`, "webroot = \"/srv\"\n", false},
		{"changed", `{"proto":{"http":false,"https":false}}`, "webroot = \"/srv\"\n", true},
		{"corrupt", `{"proto":`, "webroot = \"/srv\"\ntls-listen = \":443\"\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			if tc.existing != "" {
				writeFile(t, filepath.Join(dir, "httpd.json"), []byte(tc.existing))
			}
			recs := parseTOML(t, "[[domain]]\ndomains = [\"a.example\"]\n"+tc.conf)
			res := sync(t, st, recs, Options{})
			if res.HTTPD != tc.write {
				t.Errorf("httpd written = %v; want %v", res.HTTPD, tc.write)
			}
			if tc.write {
				var got httpdFile
				data, _ := os.ReadFile(filepath.Join(dir, "httpd.json"))
				if err := json.Unmarshal(data, &got); err != nil {
					t.Fatal(err)
				}
				want := recs[0].Settings.Reachable
				if got.Proto.HTTP != want.HTTP || got.Proto.HTTPS != want.HTTPS {
					t.Errorf("httpd.json = %s; want %+v", data, want)
				}
			}
		})
	}
}

// apacheStore lays out a store as Apache's mod_md left it.
func apacheStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	st, dir := openStore(t)
	src := filepath.Join(testdata, "apache-store")
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		writeFile(t, filepath.Join(dir, rel), data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// the samples hold a2.test's md.json but not its certificate
	writeFile(t, filepath.Join(dir, "domains", "a2.test", "pubcert.pem"), selfSigned(t, []string{"a2.test", "www.a2.test"}, false))
	return st, dir
}

func TestApacheStoreInterop(t *testing.T) {
	st, dir := apacheStore(t)
	files := []string{"domains/a1.test/md.json", "domains/a2.test/md.json"}
	before := map[string]fileID{}
	orig := map[string][]byte{}
	for _, f := range files {
		before[f] = stat(t, filepath.Join(dir, f))
		orig[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	confData, err := os.ReadFile(filepath.Join(testdata, "md.toml"))
	if err != nil {
		t.Fatal(err)
	}
	apacheConf := string(confData)
	recs := parseTOML(t, apacheConf)
	res := sync(t, st, recs, Options{})
	if len(res.Written) != 0 || res.HTTPD || len(res.Renamed) != 0 {
		t.Errorf("sync of a matching config rewrote something: %+v", res)
	}
	for _, f := range files {
		if !stat(t, filepath.Join(dir, f)).same(before[f]) {
			t.Errorf("%s rewritten", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "httpd.json")); !os.IsNotExist(err) {
		t.Error("httpd.json written although mod_md's default (both reachable) holds")
	}
	for _, r := range recs {
		if r.CA.Account != "ACME-127.0.0.1-0000" || r.CA.URL != "https://127.0.0.1:14000/dir" || r.State != md.StateComplete {
			t.Errorf("%s not filled from the store: ca %+v state %d %q", r.Name, r.CA, r.State, r.StateDescr)
		}
	}

	// a real change rewrites in mod_md's format: only that field differs,
	// the account and effective URL are kept
	changed := strings.Replace(apacheConf, "domains = [\"a1.test\"]", "domains = [\"a1.test\"]\nrenew-window = \"20d\"", 1)
	if changed == apacheConf {
		t.Fatal("md.toml lacks the a1.test domain")
	}
	recs = parseTOML(t, changed)
	res = sync(t, st, recs, Options{})
	if !reflect.DeepEqual(res.Written, []string{"a1.test"}) {
		t.Fatalf("written = %v; want [a1.test]", res.Written)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "domains/a1.test/md.json"))
	var r1 *md.Record
	for _, r := range recs {
		if r.Name == "a1.test" {
			r1 = r
		}
	}
	want := bytes.Replace(orig["domains/a1.test/md.json"], []byte(`"renew-window": "33%"`), []byte(`"renew-window": "20d"`), 1)
	// the config's CA roots file is part of the rewritten definition
	want = bytes.Replace(want, []byte(`  "stapling": true,`), []byte("  \"stapling\": true,\n  \"ca-certs\": \""+r1.CACerts+"\","), 1)
	if !bytes.Equal(got, want) {
		t.Errorf("rewritten md.json:\n%s\nwant:\n%s", got, want)
	}
}

func TestUnknownProtocolAndInvalidRecords(t *testing.T) {
	st, _ := openStore(t)
	recs := parseTOML(t, twoDomains)
	recs[0].CA.Proto = "tailscale"
	if _, err := Sync(context.Background(), st, recs, Options{}); err == nil || !strings.Contains(err.Error(), "uses unknown CA protocol 'tailscale'") {
		t.Errorf("err = %v", err)
	}
	recs = parseTOML(t, twoDomains)
	recs[1].Name = "../evil"
	if _, err := Sync(context.Background(), st, recs, Options{}); err == nil {
		t.Error("a record with an invalid name was synced")
	}
	recs = parseTOML(t, twoDomains)
	recs[1] = recs[0]
	if _, err := Sync(context.Background(), st, recs, Options{}); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("err = %v; want defined twice", err)
	}
	// a record that failed upstream is passed over
	recs = parseTOML(t, twoDomains)
	recs[1].Error = &md.StageError{Stage: "parse", Detail: "x"}
	res := sync(t, st, recs, Options{})
	if !reflect.DeepEqual(res.Written, []string{"a.example"}) {
		t.Errorf("written = %v", res.Written)
	}
}

// TestStoreOddities: sets mod_md would also meet in a store it did not
// write cleanly.
func TestStoreOddities(t *testing.T) {
	t.Run("set without md.json", func(t *testing.T) {
		st, dir := openStore(t)
		writeFile(t, filepath.Join(dir, "domains", "a.example", "job.json"), []byte(`{"name":"a.example"}`))
		res := sync(t, st, parseTOML(t, twoDomains), Options{})
		if len(res.Written) != 2 {
			t.Errorf("written = %v; want both", res.Written)
		}
		if _, err := st.LoadMD(t.Context(), store.GroupDomains, "a.example"); err != nil {
			t.Error(err)
		}
	})
	t.Run("corrupt unassigned set is no rename candidate", func(t *testing.T) {
		st, dir := openStore(t)
		writeFile(t, filepath.Join(dir, "domains", "old.example", "md.json"), []byte("{"))
		res := sync(t, st, parseTOML(t, twoDomains), Options{})
		if len(res.Renamed) != 0 || len(res.Written) != 2 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "domains/old.example") {
			t.Errorf("result %+v", res)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "domains", "old.example", "md.json")); string(got) != "{" {
			t.Errorf("unassigned set touched: %q", got)
		}
	})
	t.Run("staging target exists", func(t *testing.T) {
		st, dir := openStore(t)
		old := &md.MD{Name: "a.example", Domains: []string{"a.example", "www.a.example"}, CA: &md.CA{Proto: "ACME"}}
		if err := st.SaveMD(t.Context(), store.GroupDomains, old); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "staging", "a.example", "job.json"), []byte(`{"name":"a.example"}`))
		writeFile(t, filepath.Join(dir, "staging", "www.a.example", "job.json"), []byte(`{"name":"www.a.example"}`))
		res := sync(t, st, parseTOML(t, "[[domain]]\ndomains = [\"www.a.example\"]\nwebroot = \"/srv\"\n"), Options{})
		if res.Renamed["a.example"] != "www.a.example" || len(res.Warnings) != 1 {
			t.Errorf("result %+v", res)
		}
		if _, err := os.Stat(filepath.Join(dir, "domains", "www.a.example", "md.json")); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "staging", "a.example", "job.json")); err != nil {
			t.Errorf("old staging set lost: %v", err)
		}
	})
	t.Run("renamed set also configured under old name", func(t *testing.T) {
		// a.example stays configured: it is assigned, so the new MD is new
		st, _ := openStore(t)
		sync(t, st, parseTOML(t, "[[domain]]\ndomains = [\"a.example\", \"b.example\"]\nwebroot = \"/srv\"\n"), Options{})
		res := sync(t, st, parseTOML(t, "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\n[[domain]]\ndomains = [\"b.example\"]\nwebroot = \"/srv\"\n"), Options{})
		if len(res.Renamed) != 0 || !reflect.DeepEqual(sorted(res.Written), []string{"a.example", "b.example"}) {
			t.Errorf("result %+v", res)
		}
	})
}

// TestConcurrentSyncs: runs that wait for the lock sync one after the
// other, so exactly one of them writes each definition.
func TestConcurrentSyncs(t *testing.T) {
	_, dir := openStore(t)
	const n = 4
	results := make(chan *Result, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			st, err := store.Open(t.Context(), dir)
			if err != nil {
				errs <- err
				return
			}
			res, err := Sync(context.Background(), st, parseTOML(t, twoDomains), Options{Wait: 30 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			results <- res
		}()
	}
	written := 0
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case res := <-results:
			written += len(res.Written)
		}
	}
	if written != 2 {
		t.Errorf("%d definitions written by %d concurrent syncs; want 2", written, n)
	}
}

func BenchmarkSync(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("[global]\nwebroot = \"/srv\"\ncontact-email = \"a@example.org\"\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&conf, "[[domain]]\ndomains = [\"d%d.example\", \"www.d%d.example\"]\n", i, i)
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "md.toml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.Context(), filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	load := func() []*md.Record {
		pc, err := tomlconf.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		return pc.Records
	}
	start := time.Now()
	if _, err := Sync(context.Background(), st, load(), Options{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first sync of 5000 MDs (writes all): %v", time.Since(start))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs := load()
		res, err := Sync(context.Background(), st, recs, Options{})
		if err != nil || len(res.Written) != 0 {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// TestApacheConfigInterop: the Apache config that produced the store, read
// by lib/apacheconf as md-parse does, syncs without a rewrite too.
func TestApacheConfigInterop(t *testing.T) {
	st, dir := apacheStore(t)
	before := stat(t, filepath.Join(dir, "domains/a1.test/md.json"))
	pc, err := apacheconf.Load(filepath.Join(testdata, "apache-httpd.conf"), apacheconf.Options{ServerRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	res := sync(t, st, pc.Records, Options{})
	if len(res.Written) != 0 || res.HTTPD || len(res.Renamed) != 0 || len(res.Unchanged) != 2 {
		t.Errorf("result %+v; want both unchanged", res)
	}
	if !stat(t, filepath.Join(dir, "domains/a1.test/md.json")).same(before) {
		t.Error("a1.test/md.json rewritten")
	}
	for _, r := range pc.Records {
		if r.CA.Account != "ACME-127.0.0.1-0000" || r.State != md.StateComplete {
			t.Errorf("%s: ca %+v state %d %q", r.Name, r.CA, r.State, r.StateDescr)
		}
	}
}

// TestRepairsRedactedHMAC: a store where an older md-install wrote the
// masked HMAC ("***") gets the configured one back on the next sync.
func TestRepairsRedactedHMAC(t *testing.T) {
	st, dir := openStore(t)
	conf := "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\nexternal-account-binding = { kid = \"k\", hmac = \"aG1hYw\" }\n"
	sync(t, st, parseTOML(t, conf), Options{})
	path := filepath.Join(dir, "domains", "a.example", "md.json")
	raw, _ := os.ReadFile(path)
	broken := strings.Replace(string(raw), `"aG1hYw"`, `"***"`, 1)
	if broken == string(raw) {
		t.Fatalf("no hmac in %s", raw)
	}
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	res := sync(t, st, parseTOML(t, conf), Options{})
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "a.example")
	if len(res.Written) != 1 || err != nil || m.EAB == nil || m.EAB.HMAC != "aG1hYw" {
		t.Errorf("result %+v, stored eab %+v (%v); want the configured hmac back", res, m.EAB, err)
	}
	if res := sync(t, st, parseTOML(t, conf), Options{}); len(res.Written) != 0 {
		t.Errorf("second sync rewrote %v", res.Written)
	}
}

// TestStateSpecialStaticFiles: a static certificate file that is a device,
// a FIFO or huge gives state error at once; before, a FIFO blocked the sync.
func TestStateSpecialStaticFiles(t *testing.T) {
	for _, sp := range fsreadtest.Specials(t) {
		t.Run(sp.Name, func(t *testing.T) {
			st, _ := openStore(t)
			recs := parseTOML(t, "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\n"+
				"certificate-file = \""+sp.Path+"\"\ncertificate-key-file = \""+sp.Path+"\"\n")
			var res *Result
			var err error
			fsreadtest.NoHang(t, func() { res, err = Sync(context.Background(), st, recs, Options{}) })
			if err != nil {
				t.Fatal(err)
			}
			if r := recs[0]; r.State != md.StateError || r.StateDescr != "error initializing" {
				t.Errorf("state = %d %q; want %d (mod_md's error initializing)", r.State, r.StateDescr, md.StateError)
			}
			// md-parse prints why
			want := "md[a.example]: certificate unreadable (state error): MDCertificateFile " + sp.Want
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], want) {
				t.Errorf("warnings = %q; want one containing %q", res.Warnings, want)
			}
		})
	}
}

// BenchmarkResync200kNames: one MD of 200,000 names synced again (the
// stored definition compared name by name), and again after its first
// name was dropped (a rename: the stored MD found by its names). Both
// were quadratic (88 s for the resync); they are linear now:
//
//	go test -run '^$' -bench Resync200kNames -benchtime 2x ./lib/registry/
func BenchmarkResync200kNames(b *testing.B) {
	names := make([]string, 200000)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("%d.a.io", i))
	}
	conf := func(from int) string {
		return "[[domain]]\nwebroot = \"/srv\"\ndomains = [" + strings.Join(names[from:], ",") + "]\n"
	}
	for b.Loop() {
		b.StopTimer()
		st, _ := openStore(b)
		if _, err := Sync(context.Background(), st, parseTOML(b, conf(0)), Options{}); err != nil {
			b.Fatal(err)
		}
		again, renamed := parseTOML(b, conf(0)), parseTOML(b, conf(1))
		b.StartTimer()
		if res, err := Sync(context.Background(), st, again, Options{}); err != nil || len(res.Written) != 0 {
			b.Fatalf("resync: %v %+v", err, res)
		}
		if res, err := Sync(context.Background(), st, renamed, Options{}); err != nil || len(res.Renamed) != 1 {
			b.Fatalf("rename: %v %+v", err, res)
		}
	}
}
