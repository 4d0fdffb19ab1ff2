package tomlconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMDToolsExtensions: reuse-key and preferred-chain, global and per MD
// (the MD's value wins), and a bad value is an error naming the line.
func TestMDToolsExtensions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "md.toml")
	conf := `[global]
reuse-key = true
preferred-chain = "Root X1"

[[domain]]
domains = ["a.example"]
webroot = "www"

[[domain]]
domains = ["b.example"]
webroot = "www"
reuse-key = false
preferred-chain = "Other Root"
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		i     int
		reuse bool
		chain string
	}{{0, true, "Root X1"}, {1, false, "Other Root"}} {
		r := pc.Records[tc.i]
		if r.ReuseKey != tc.reuse || r.PreferredChain != tc.chain {
			t.Errorf("%s: reuse-key %v preferred-chain %q; want %v %q", r.Name, r.ReuseKey, r.PreferredChain, tc.reuse, tc.chain)
		}
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[global]\npreferred-chain = \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "bad.toml:2") {
		t.Errorf("empty preferred-chain: %v", err)
	}
}
