package certtest

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

func TestIssuedChainVerifies(t *testing.T) {
	ca := New(t, Spec{CA: true})
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	ext := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}
	leaf := New(t, Spec{Names: []string{"a.test", "b.test"}, Issuer: ca, Serial: big.NewInt(42), NotAfter: until,
		OCSP: []string{"http://127.0.0.1/ocsp"}, Extensions: []pkix.Extension{ext}, IssuerURLs: []string{"http://127.0.0.1/ca.der"}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "b.test"}); err != nil {
		t.Fatalf("issued leaf does not verify: %v", err)
	}
	if leaf.Cert.SerialNumber.Int64() != 42 || !leaf.Cert.NotAfter.Equal(until) || leaf.Cert.Subject.CommonName != "a.test" ||
		len(leaf.Cert.OCSPServer) != 1 || len(leaf.Cert.IssuingCertificateURL) != 1 {
		t.Errorf("leaf = serial %v, until %v, CN %q, OCSP %v, CA issuers %v", leaf.Cert.SerialNumber, leaf.Cert.NotAfter,
			leaf.Cert.Subject.CommonName, leaf.Cert.OCSPServer, leaf.Cert.IssuingCertificateURL)
	}
	found := false
	for _, e := range leaf.Cert.Extensions {
		found = found || e.Id.Equal(ext.Id)
	}
	if !found {
		t.Error("extra extension missing")
	}
	if got := ChainPEM(leaf, ca); len(got) != len(leaf.PEM())+len(ca.PEM()) {
		t.Error("ChainPEM is not the concatenation")
	}
	if len(leaf.KeyPEM(t)) == 0 {
		t.Error("no key PEM")
	}
}

// TestRawSubject: a raw subject is kept byte for byte, and names the
// issuer of a self-signed certificate too.
func TestRawSubject(t *testing.T) {
	raw, err := asn1.Marshal(pkix.Name{Organization: []string{"Odd"}, CommonName: "raw CN"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	c := New(t, Spec{Names: []string{"x.test"}, RawSubject: raw})
	if string(c.Cert.RawSubject) != string(raw) || string(c.Cert.RawIssuer) != string(raw) {
		t.Errorf("subject %x, issuer %x; want %x", c.Cert.RawSubject, c.Cert.RawIssuer, raw)
	}
	if c.Cert.Subject.CommonName != "raw CN" || len(c.Cert.DNSNames) != 1 {
		t.Errorf("CN %q, DNS names %v", c.Cert.Subject.CommonName, c.Cert.DNSNames)
	}
}
