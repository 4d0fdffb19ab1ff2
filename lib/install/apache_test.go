package install

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/install")

func TestApacheSnippetGolden(t *testing.T) {
	t.Parallel()
	rsa := md.KeySpec{Type: md.KeyRSA, Bits: 2048}
	tests := []struct {
		name     string
		m        md.MD
		storeDir string
		src      CertSource
	}{
		{"temporary-two-keys", md.MD{Name: "a.test", Domains: []string{"a.test", "www.a.test"}, PrivKey: md.KeySpecs{rsa, ecSpec}, RequireHTTPS: "temporary"}, "/var/lib/mdtools", CertLive},
		{"permanent-wildcard", md.MD{Name: "b.test", Domains: []string{"b.test", "*.b.test"}, RequireHTTPS: "permanent"}, "/var/lib/mdtools", CertLive},
		{"off-no-cert-yet", md.MD{Name: "c.test", Domains: []string{"c.test"}}, "/var/lib/mdtools", CertNone},
		{"store-path-with-space", md.MD{Name: "d.test", Domains: []string{"d.test"}}, "/srv/md store", CertLive},
		{"fallback-permanent", md.MD{Name: "e.test", Domains: []string{"e.test"}, PrivKey: md.KeySpecs{ecSpec}, RequireHTTPS: "permanent"}, "/var/lib/mdtools", CertFallback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ApacheSnippet(&tc.m, tc.storeDir, tc.src)
			path := filepath.Join("..", "..", "testdata", "install", "apache-"+tc.name+".conf")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if string(got) != string(want) {
				t.Errorf("snippet differs from %s:\n%s", path, got)
			}
		})
	}
}

func TestHostRegexp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		domains []string
		want    string
	}{
		{[]string{"a.test"}, `^(a\.test)$`},
		{[]string{"a.test", "*.a.test"}, `^(a\.test|[^.]+\.a\.test)$`},
		{[]string{"xn--bcher-kva.test"}, `^(xn--bcher-kva\.test)$`},
	}
	for _, tc := range tests {
		if got := hostRegexp(tc.domains); got != tc.want {
			t.Errorf("hostRegexp(%v) = %q; want %q", tc.domains, got, tc.want)
		}
	}
}

func TestDialAddr(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"*:443": "127.0.0.1:443", "_default_:8443": "127.0.0.1:8443", "[::]:443": "[::1]:443",
		"10.0.0.1:443": "10.0.0.1:443", "8443": "127.0.0.1:8443", "www.a.test": "www.a.test:443",
	}
	for in, want := range tests {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestHiddenSetOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		entry, name string
		ok          bool
	}{
		{".a.test.0123456789ab", "a.test", true},
		{".a.test.0123456789ab.link", "a.test", true},
		{"a.test", "", false},
		{".a.test.xyz", "", false},
		{".0123456789ab", "", false},
	}
	for _, tc := range tests {
		name, ok := hiddenSetOf(tc.entry)
		if name != tc.name || ok != tc.ok {
			t.Errorf("hiddenSetOf(%q) = %q, %v", tc.entry, name, ok)
		}
	}
}
