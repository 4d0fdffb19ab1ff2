package store

import (
	"bytes"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
)

// TestParseChainPEMSharesIntermediates: the chains of two MDs of one CA
// share one parsed intermediate; leaves stay their own; a damaged
// intermediate is still an error (never cached), and so is the same
// damage seen again.
func TestParseChainPEMSharesIntermediates(t *testing.T) {
	ca := certtest.New(t, certtest.Spec{Names: []string{"Test Root"}, CA: true})
	inter := certtest.New(t, certtest.Spec{Names: []string{"Test Intermediate"}, CA: true, Issuer: ca})
	a := certtest.New(t, certtest.Spec{Names: []string{"a.test"}, Issuer: inter})
	b := certtest.New(t, certtest.Spec{Names: []string{"b.test"}, Issuer: inter})
	ca1, err := ParseChainPEM(certtest.ChainPEM(a, inter))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ParseChainPEM(certtest.ChainPEM(b, inter))
	if err != nil {
		t.Fatal(err)
	}
	if len(ca1) != 2 || len(cb) != 2 || ca1[1] != cb[1] {
		t.Fatalf("intermediate not shared: %p %p", ca1[1], cb[1])
	}
	if !bytes.Equal(ca1[0].Raw, a.Cert.Raw) || !bytes.Equal(cb[0].Raw, b.Cert.Raw) || !bytes.Equal(cb[1].Raw, inter.Cert.Raw) {
		t.Fatal("wrong certificates")
	}
	// the intermediate's DER cut short: not a certificate
	bad := bytes.Clone(inter.Cert.Raw)[:len(inter.Cert.Raw)-3]
	damaged := append(certtest.ChainPEM(a), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bad})...)
	for i := 0; i < 2; i++ {
		if _, err := ParseChainPEM(damaged); err == nil || !strings.Contains(err.Error(), "certificate 2") {
			t.Fatalf("damaged intermediate, try %d: %v", i+1, err)
		}
	}
}
