package tomlconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manyNames writes an md.toml with one [[domain]] of n names.
func manyNames(tb testing.TB, n int, dup func(i int) string) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("[global]\nwebroot = \"/srv/www\"\n[[domain]]\ndomains = [")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%q,", dup(i))
	}
	b.WriteString("]\n")
	path := filepath.Join(tb.TempDir(), "md.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestManyNamesDeduplicated: names are lower-cased and duplicates dropped
// keeping the first, now through a map instead of a scan per name.
func TestManyNamesDeduplicated(t *testing.T) {
	path := manyNames(t, 3000, func(i int) string {
		if i%3 == 2 { // a repeat of name i-2 in another case
			return fmt.Sprintf("N%d.Example.ORG", i-2)
		}
		return fmt.Sprintf("n%d.example.org", i)
	})
	pc, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := pc.Records[0].Domains
	if len(got) != 2000 || got[0] != "n0.example.org" || got[1] != "n1.example.org" || got[2] != "n3.example.org" {
		t.Errorf("got %d names starting %q; want 2000 starting n0, n1, n3", len(got), got[:3])
	}
}

// BenchmarkLoad200kNames: one [[domain]] with 200,000 names (2.7 MB).
// md-parse took 76-88 s for this while each name was looked up by a scan
// of the ones before; it is linear now:
//
//	go test -run '^$' -bench Load200kNames -benchtime 3x ./lib/tomlconf/
func BenchmarkLoad200kNames(b *testing.B) {
	path := manyNames(b, 200000, func(i int) string { return fmt.Sprintf("%d.a.io", i) })
	for b.Loop() {
		pc, err := Load(path)
		if err != nil || len(pc.Records[0].Domains) != 200000 {
			b.Fatalf("err %v", err)
		}
	}
}
