package renew

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
)

// TestCheckChain: md-order (before staging) and md-install (before going
// live) judge a chain by this one rule. The two copies it replaces
// disagreed: md-order accepted a leaf without its issuer (mod_md's
// get_chain refuses it), md-install checked only the first link.
func TestCheckChain(t *testing.T) {
	issue := func(issuer *certtest.Cert, ca bool, names ...string) *certtest.Cert {
		return certtest.New(t, certtest.Spec{Names: names, Issuer: issuer, CA: ca, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)})
	}
	// The CAs go unnamed (certtest CA): CheckChain follows signatures, not names.
	rootC, otherRootC := issue(nil, true), issue(nil, true)
	interC := issue(rootC, true)
	leafC := issue(interC, false, "a.org", "*.a.org")
	root, otherRoot, inter, leaf := rootC.Cert, otherRootC.Cert, interC.Cert, leafC.Cert
	key, otherRootKey := leafC.Key, otherRootC.Key
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
