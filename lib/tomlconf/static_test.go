package tomlconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
)

// TestStaticCertState: certificate-file whose certificate does not cover
// all domains leaves the MD incomplete (mod_md's state_init), before any
// store sync.
func TestStaticCertState(t *testing.T) {
	dir := t.TempDir()
	certtest.WriteSelfSigned(t, filepath.Join(dir, "c.pem"), "a.example")
	path := filepath.Join(dir, "md.toml")
	conf := "[[domain]]\ndomains = [\"a.example\", \"b.example\"]\ncertificate-file = [\"c.pem\"]\ncertificate-key-file = [\"c.key\"]\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := pc.Records[0].MD
	if want := "certificate(rsa) does not cover all domains."; m.State != md.StateIncomplete || m.StateDescr != want {
		t.Errorf("state %d %q; want %d %q", m.State, m.StateDescr, md.StateIncomplete, want)
	}
}
