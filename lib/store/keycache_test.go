package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestLoadKeyCache: an encrypted key read again is not decrypted again,
// but a changed file is read as it is now: another key, or damage.
func TestLoadKeyCache(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, s.SaveKey(t.Context(), GroupStaging, "a.org", FileAccountKey, k1))
	must(t, s.SaveKey(t.Context(), GroupStaging, "b.org", FileAccountKey, k1))
	load := func(name string) (*ecdsa.PrivateKey, error) {
		k, err := s.LoadKey(t.Context(), GroupStaging, name, FileAccountKey)
		if err != nil {
			return nil, err
		}
		return k.(*ecdsa.PrivateKey), nil
	}
	a, err := load("a.org")
	if err != nil || !a.Equal(k1) {
		t.Fatalf("first read: %v", err)
	}
	if again, err := load("a.org"); err != nil || again != a {
		t.Errorf("second read of the same file: decrypted again (%p, %p) or %v", again, a, err)
	}
	// b.org's file holds k1 encrypted with another salt: its own entry
	if b, err := load("b.org"); err != nil || !b.Equal(k1) {
		t.Errorf("b.org: %v", err)
	}
	must(t, s.SaveKey(t.Context(), GroupStaging, "a.org", FileAccountKey, k2))
	if a, err := load("a.org"); err != nil || !a.Equal(k2) {
		t.Errorf("after the key changed: %v", err)
	}
	p := filepath.Join(dir, "staging", "a.org", FileAccountKey)
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 1
	os.WriteFile(p, data, 0o600)
	if _, err := load("a.org"); err == nil {
		t.Error("a damaged key file was read")
	}
}
