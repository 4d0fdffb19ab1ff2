package ocsptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/mdtools/mdtools/lib/renew"
	"math/big"
	"sync/atomic"
	"time"
)

// CA is a small in-process CA for unit tests and benchmarks (the
// integration tests use certificates from a real Pebble).
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	next atomic.Int64
}

// NewCA makes a CA certificate valid around now.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key}
	ca.next.Store(1000)
	return ca, nil
}

// LeafOptions shape a leaf certificate.
type LeafOptions struct {
	OCSP, CRL  string // AIA OCSP URL and CRL distribution point
	OCSPSigner bool   // a delegated OCSP responder certificate
	MustStaple bool
	Name       string
}

// Leaf issues a certificate (safe for concurrent use); it returns the cert, its key, and the PEM
// chain leaf + CA.
func (ca *CA) Leaf(o LeafOptions) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	serial := ca.next.Add(1)
	name := o.Name
	if name == "" {
		name = "leaf.test"
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.OCSP != "" {
		tmpl.OCSPServer = []string{o.OCSP}
	}
	if o.CRL != "" {
		tmpl.CRLDistributionPoints = []string{o.CRL}
	}
	if o.OCSPSigner {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
		tmpl.DNSNames = nil
	}
	if o.MustStaple {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: renew.OIDTLSFeature, Value: renew.MustStapleValue}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})...)
	return cert, key, chain, nil
}
