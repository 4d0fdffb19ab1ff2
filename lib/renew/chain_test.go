package renew

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestCheckChain: md-order (before staging) and md-install (before going
// live) judge a chain by this one rule. The two copies it replaces
// disagreed: md-order accepted a leaf without its issuer (mod_md's
// get_chain refuses it), md-install checked only the first link.
func TestCheckChain(t *testing.T) {
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, ca bool, names ...string) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
			NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour), IsCA: ca, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		if !ca {
			tmpl.DNSNames = names
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rootKey, otherRootKey, interKey, key := newKey(), newKey(), newKey(), newKey()
	root := issue(rootKey, nil, nil, true, "root")
	otherRoot := issue(otherRootKey, nil, nil, true, "other root")
	inter := issue(interKey, root, rootKey, true, "intermediate")
	leaf := issue(key, inter, interKey, false, "a.org", "*.a.org")
	tests := []struct {
		name    string
		chain   []*x509.Certificate
		domains []string
		staple  bool
		now     time.Time
		want    string
	}{
		{"good", []*x509.Certificate{leaf, inter}, []string{"a.org", "www.a.org"}, false, t0, ""},
		{"good with root", []*x509.Certificate{leaf, inter, root}, []string{"a.org"}, false, t0, ""},
		{"empty", nil, []string{"a.org"}, false, t0, ProblemChainMissing},
		{"leaf only", []*x509.Certificate{leaf}, []string{"a.org"}, false, t0, ProblemChainMissing},
		{"second link broken", []*x509.Certificate{leaf, inter, otherRoot}, []string{"a.org"}, false, t0, ProblemChainInvalid},
		{"first link broken", []*x509.Certificate{leaf, root}, []string{"a.org"}, false, t0, ProblemChainInvalid},
		{"names", []*x509.Certificate{leaf, inter}, []string{"a.org", "b.org"}, false, t0, ProblemNamesMismatch},
		{"must-staple missing", []*x509.Certificate{leaf, inter}, []string{"a.org"}, true, t0, ProblemMustStapleMissing},
		{"expired", []*x509.Certificate{leaf, inter}, []string{"a.org"}, false, t0.Add(2 * time.Hour), ProblemExpired},
	}
	for _, tc := range tests {
		e := CheckChain(tc.chain, key, tc.domains, tc.staple, tc.now)
		switch {
		case tc.want == "" && e != nil:
			t.Errorf("%s: %v", tc.name, e)
		case tc.want != "" && (e == nil || e.Problem != tc.want):
			t.Errorf("%s: %v; want %s", tc.name, e, tc.want)
		}
	}
	if e := CheckChain([]*x509.Certificate{leaf, inter}, otherRootKey, []string{"a.org"}, false, t0); e == nil || e.Problem != ProblemKeyMismatch {
		t.Errorf("other key: %v", e)
	}
}
