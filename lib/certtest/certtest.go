// Package certtest makes throwaway certificates for tests: self-signed or
// issued by a throwaway CA, with the names, validity, serial, key and
// extensions a test needs, as parsed certificates and PEM. Certificates
// from a real ACME CA come from lib/devca (a real Pebble); this is for
// tests that only need certificate files to judge.
package certtest

import (
	"crypto"
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

// Spec describes a test certificate. The zero Spec is a self-signed
// P-256 certificate for "test.example", serial 1, valid from an hour ago
// to an hour from now.
type Spec struct {
	Names     []string  // DNS names and IP addresses (IP SANs); the first is the CN
	NotBefore time.Time // default: an hour ago
	NotAfter  time.Time // default: an hour from now
	Serial    *big.Int  // default: 1
	Key       crypto.Signer
	Issuer    *Cert // nil: self-signed
	CA        bool  // a CA certificate (basic constraints, cert sign)
	OCSP      []string
	// SubjectKeyID and AuthorityKeyID are set as given (an AKI gives a
	// self-signed certificate an ARI certificate ID).
	SubjectKeyID, AuthorityKeyID []byte
	Extensions                   []pkix.Extension // e.g. must-staple
	// IssuerURLs are the CA Issuers URLs of the authority information
	// access (where to fetch the issuer's certificate).
	IssuerURLs []string
	// RawSubject is the subject as DER, for tests of odd name encodings;
	// it replaces the CN taken from Names.
	RawSubject []byte
	// ExtKeyUsage is set as given (none: any use), e.g. a delegated OCSP
	// responder with or without id-kp-OCSPSigning.
	ExtKeyUsage []x509.ExtKeyUsage
}

// Cert is a test certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// New makes the certificate s describes.
func New(t testing.TB, s Spec) *Cert {
	t.Helper()
	key := s.Key
	if key == nil {
		key = NewKey(t)
	}
	names := s.Names
	if len(names) == 0 && !s.CA {
		names = []string{"test.example"}
	}
	tmpl := &x509.Certificate{
		SerialNumber: s.Serial, NotBefore: s.NotBefore, NotAfter: s.NotAfter,
		OCSPServer: s.OCSP, SubjectKeyId: s.SubjectKeyID, AuthorityKeyId: s.AuthorityKeyID, ExtraExtensions: s.Extensions,
		IssuingCertificateURL: s.IssuerURLs, RawSubject: s.RawSubject, ExtKeyUsage: s.ExtKeyUsage,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if len(names) > 0 {
		tmpl.Subject = pkix.Name{CommonName: names[0]}
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(1)
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if s.CA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		if tmpl.Subject.CommonName == "" {
			tmpl.Subject.CommonName = "certtest CA"
		}
	}
	parent, signer := tmpl, key
	if s.Issuer != nil {
		parent, signer = s.Issuer.Cert, s.Issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: c, Key: key}
}

// NewKey is a fresh P-256 key.
func NewKey(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// PEM is the certificate in PEM.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the private key as PKCS#8 PEM.
func (c *Cert) KeyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ChainPEM concatenates the certificates' PEM, leaf first.
func ChainPEM(certs ...*Cert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.PEM()...)
	}
	return out
}

// SelfSignedPEM returns a self-signed certificate for names (the first is
// the CN; IP addresses become IP SANs) in PEM.
func SelfSignedPEM(t testing.TB, names ...string) []byte {
	t.Helper()
	return New(t, Spec{Names: names}).PEM()
}

// WriteSelfSigned writes SelfSignedPEM(names...) to path and returns path.
func WriteSelfSigned(t testing.TB, path string, names ...string) string {
	t.Helper()
	if err := os.WriteFile(path, SelfSignedPEM(t, names...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
