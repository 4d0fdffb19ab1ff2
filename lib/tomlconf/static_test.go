package tomlconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// TestStaticCertState: certificate-file whose certificate does not cover
// all domains leaves the MD incomplete (mod_md's state_init), before any
// store sync.
func TestStaticCertState(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a.example"}, DNSNames: []string{"a.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "c.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
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
