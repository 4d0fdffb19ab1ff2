package registry

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/apacheconf"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

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
