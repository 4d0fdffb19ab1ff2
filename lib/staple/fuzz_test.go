package staple

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/staple/ocsptest"
)

// FuzzVerify: no input makes the OCSP response checks panic, and nothing
// but a response signed for this certificate is accepted.
func FuzzVerify(f *testing.F) {
	ca, err := ocsptest.NewCA("Fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	leaf, _, _, err := ca.Leaf(ocsptest.LeafOptions{OCSP: "http://127.0.0.1:1/"})
	if err != nil {
		f.Fatal(err)
	}
	resp, err := ocsptest.Listen()
	if err != nil {
		f.Fatal(err)
	}
	defer resp.Close()
	_ = resp.SetIssuer(ca.Cert, ca.Key)
	good, err := resp.Respond(leaf.SerialNumber, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "staple", "modmd-ocsp-*.json"))
	for _, p := range files {
		data, _ := os.ReadFile(p)
		var s Stored
		if json.Unmarshal(data, &s) == nil {
			if der, err := s.DER(); err == nil {
				f.Add(der)
			}
		}
	}
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x03})
	now := time.Now()
	f.Fuzz(func(t *testing.T, der []byte) {
		r, err := Verify(der, leaf, ca.Cert, now)
		if err == nil && (r.Status != StatusGood && r.Status != StatusRevoked) {
			t.Fatalf("accepted status %q", r.Status)
		}
	})
}

// FuzzParseCRL: no input makes the CRL checks panic.
func FuzzParseCRL(f *testing.F) {
	ca, err := ocsptest.NewCA("Fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseCRL(data, ca.Cert, time.Now())
	})
}

// FuzzStored: stored response files (ours or mod_md's) never panic.
func FuzzStored(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "staple", "*.json"))
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Stored
		if json.Unmarshal(data, &s) == nil {
			_, _ = s.DER()
		}
	})
}
