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
		OCSP: []string{"http://127.0.0.1/ocsp"}, Extensions: []pkix.Extension{ext}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "b.test"}); err != nil {
		t.Fatalf("issued leaf does not verify: %v", err)
	}
	if leaf.Cert.SerialNumber.Int64() != 42 || !leaf.Cert.NotAfter.Equal(until) || leaf.Cert.Subject.CommonName != "a.test" ||
		len(leaf.Cert.OCSPServer) != 1 {
		t.Errorf("leaf = serial %v, until %v, CN %q, OCSP %v", leaf.Cert.SerialNumber, leaf.Cert.NotAfter, leaf.Cert.Subject.CommonName, leaf.Cert.OCSPServer)
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
