package registry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
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

// TestRenameNotOthers: a stored MD named in Options.Others (configured,
// answered by the caller from the memo) is never taken for a rename of
// a new MD that shares its names; without it, it would be.
func TestRenameNotOthers(t *testing.T) {
	for _, tc := range []struct {
		others  []string
		renamed map[string]string
	}{
		{nil, map[string]string{"a.example": "www.a.example"}},
		{[]string{"a.example"}, map[string]string{}},
	} {
		st, _ := openStore(t)
		m := &md.MD{Name: "a.example", Domains: []string{"a.example", "www.a.example"}, CA: &md.CA{Proto: "ACME", URL: md.DefaultCA, URLs: []string{md.DefaultCA}}, RenewMode: 1}
		if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
			t.Fatal(err)
		}
		conf := "[global]\nwebroot = \"/srv\"\n[[domain]]\ndomains = [\"www.a.example\"]\n"
		res := sync(t, st, parseTOML(t, conf), Options{DryRun: true, Others: tc.others})
		if !reflect.DeepEqual(res.Renamed, tc.renamed) {
			t.Errorf("others %v: renamed %v, want %v", tc.others, res.Renamed, tc.renamed)
		}
	}
	st, _ := openStore(t)
	conf := "[[domain]]\ndomains = [\"a.example\"]\n"
	if _, err := Sync(t.Context(), st, parseTOML(t, conf), Options{DryRun: true, Others: []string{"a.example"}}); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("a record also among the others: %v, want defined twice", err)
	}
}
