package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// FuzzParseKeyPEM: key files come from disk (ours, mod_md's, OpenSSL's);
// junk must give an error, never a panic or a hang.
func FuzzParseKeyPEM(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pass := []byte("0123456789abcdef0123456789abcdef0123456789abcdef")
	enc, _ := encryptPKCS8(der, pass)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyPEM(data, pass)
		if err == nil && k == nil {
			t.Fatal("nil key without error")
		}
	})
}

// FuzzParseChainPEM: certificate files from disk; junk gives an error.
func FuzzParseChainPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := ParseChainPEM(data)
		if err == nil && len(chain) == 0 {
			t.Fatal("empty chain without error")
		}
	})
}
