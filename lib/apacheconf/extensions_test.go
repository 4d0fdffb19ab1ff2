package apacheconf

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMDToolsDirectives: MDPrivateKeyReuse and MDPreferredChain, global
// and inside <MDomain> (the MD's value wins).
func TestMDToolsDirectives(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "httpd.conf")
	conf := `ServerName localhost
ServerAdmin admin@example.org
MDCertificateAgreement accepted
MDPrivateKeyReuse on
MDPreferredChain "Root X1"
MDomain a.example
<MDomain b.example>
  MDPrivateKeyReuse off
  MDPreferredChain "Other Root"
</MDomain>
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		reuse bool
		chain string
	}{"a.example": {true, "Root X1"}, "b.example": {false, "Other Root"}}
	for _, r := range pc.Records {
		w := want[r.Name]
		if r.ReuseKey != w.reuse || r.PreferredChain != w.chain {
			t.Errorf("%s: reuse %v chain %q; want %v %q", r.Name, r.ReuseKey, r.PreferredChain, w.reuse, w.chain)
		}
	}
	if len(pc.Records) != 2 {
		t.Errorf("%d records", len(pc.Records))
	}
}
