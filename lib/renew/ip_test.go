package renew

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
)

// TestCoversIPAddresses: an IP address is covered by an equal IP SAN only,
// never by a DNS SAN spelling the same text or by another address.
func TestCoversIPAddresses(t *testing.T) {
	parse := func(names ...string) *x509.Certificate {
		b, _ := pem.Decode(certtest.SelfSignedPEM(t, names...))
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mixed := parse("a.example.org", "127.0.0.1", "2001:db8::1")
	for _, tc := range []struct {
		cert    *x509.Certificate
		domains []string
		want    bool
	}{
		{mixed, []string{"a.example.org", "127.0.0.1", "2001:db8::1"}, true},
		{mixed, []string{"127.0.0.1"}, true},
		{mixed, []string{"2001:db8::1"}, true},
		{mixed, []string{"::1"}, false},
		{mixed, []string{"127.0.0.2"}, false},
		{parse("a.example.org", "::1"), []string{"::1", "a.example.org"}, true},
		{parse("a.example.org"), []string{"127.0.0.1"}, false},
	} {
		if got := Covers(tc.cert, tc.domains); got != tc.want {
			t.Errorf("Covers(%v, %v) = %v, want %v", AltNames(tc.cert), tc.domains, got, tc.want)
		}
	}
}

func TestSANNamesShowsAddresses(t *testing.T) {
	b, _ := pem.Decode(certtest.SelfSignedPEM(t, "a.example.org", "127.0.0.1", "2001:db8::1"))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(SANNames(c), " "); got != "a.example.org 127.0.0.1 2001:db8::1" {
		t.Errorf("SANNames = %q", got)
	}
}
