package store

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// TestPublicKeyPEM: the cheap public half equals the fully parsed key's
// for every key form the store meets, and KeyFits tells a certificate's
// own key from another one.
func TestPublicKeyPEM(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	pass := []byte("store key")
	encrypted := func(k crypto.Signer) []byte {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		enc, err := encryptPKCS8(der, pass)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc})
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	tests := []struct {
		name string
		pem  []byte
		key  crypto.Signer
	}{
		{"rsa pkcs8", pkcs8(rsaKey), rsaKey},
		{"rsa pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), rsaKey},
		{"rsa encrypted", encrypted(rsaKey), rsaKey},
		{"ec pkcs8", pkcs8(ecKey), ecKey},
		{"ec sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), ecKey},
		{"ec encrypted", encrypted(ecKey), ecKey},
		{"ed25519", pkcs8(edKey), edKey},
	}
	for _, tc := range tests {
		pub, err := PublicKeyPEM(tc.pem, pass)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Errorf("%s: public key differs", tc.name)
		}
	}
	for _, bad := range [][]byte{nil, []byte("junk"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}})} {
		if _, err := PublicKeyPEM(bad, pass); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}

	s, _ := openTemp(t)
	cert := selfSigned(t, ecKey, "a.org")
	if err := s.SaveKey(t.Context(), GroupDomains, "a.org", "privkey.pem", ecKey); err != nil {
		t.Fatal(err)
	}
	if fits, err := s.KeyFits(t.Context(), GroupDomains, "a.org", "privkey.pem", cert); err != nil || !fits {
		t.Errorf("own key: fits %v, %v", fits, err)
	}
	if err := s.SaveKey(t.Context(), GroupDomains, "a.org", "privkey.pem", rsaKey); err != nil {
		t.Fatal(err)
	}
	if fits, err := s.KeyFits(t.Context(), GroupDomains, "a.org", "privkey.pem", cert); err != nil || fits {
		t.Errorf("other key: fits %v, %v", fits, err)
	}
	if _, err := s.KeyFits(t.Context(), GroupDomains, "a.org", "privkey.secp384r1.pem", cert); err == nil {
		t.Errorf("missing key: no error")
	}
}

// BenchmarkKeyFitsRSA is the per-MD cost of the key check for an RSA 2048
// key (compare BenchmarkParseKeyRSA, the full parse it avoids).
func BenchmarkKeyFitsRSA(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := PublicKeyPEM(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseKeyRSA(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ParseKeyPEM(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
