// Package certtest makes throwaway certificates for tests: a self-signed
// P-256 certificate for given names, valid from an hour ago to an hour from
// now, written as PEM. Certificates from a CA come from lib/devca (a real
// Pebble); this is for tests that only need a certificate file to judge.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

// SelfSignedPEM returns a self-signed certificate for names (the first is
// the CN; IP addresses become IP SANs) in PEM.
func SelfSignedPEM(t testing.TB, names ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// WriteSelfSigned writes SelfSignedPEM(names...) to path and returns path.
func WriteSelfSigned(t testing.TB, path string, names ...string) string {
	t.Helper()
	if err := os.WriteFile(path, SelfSignedPEM(t, names...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
