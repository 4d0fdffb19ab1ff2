package md

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidateDomainIPLiterals(t *testing.T) {
	for _, tc := range []struct {
		name, want string // want: "" valid, else a part of the error
	}{
		{"127.0.0.1", ""},
		{"192.0.2.10", ""},
		{"::1", ""},
		{"2001:db8::1", ""},
		{"2001:DB8::1", "canonical form; write \"2001:db8::1\""},
		{"2001:db8:0:0:0:0:0:1", "write \"2001:db8::1\""},
		{"fe80::1%eth0", "has a zone"},
		{"::ffff:192.0.2.1", "write the IPv4 address 192.0.2.1"},
		{"0.0.0.0", "not a host address"},
		{"::", "not a host address"},
		{"224.0.0.1", "not a host address"},
		{"1.2.3.256", "not a valid IP address"},
		{"01.2.3.4", "not a valid IP address"},
		{"1.2.3", "not a valid IP address"},
		{"1:2", "not a valid IP address"},
		{"*.1.2.3.4", "no wildcard form"},
		{"host.123", "last label \"123\" is all digits"},
		{"a.b:c", "not a valid IP address"},
		{"1a.example.org", ""},
		{"123.example.org", ""},
	} {
		err := ValidateDomain(tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ValidateDomain(%q) = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ValidateDomain(%q) = %v, want error with %q", tc.name, err, tc.want)
		}
	}
}

func TestCanonicalNameAndSets(t *testing.T) {
	for in, want := range map[string]string{
		"2001:DB8:0::1":   "2001:db8::1",
		"127.0.0.1":       "127.0.0.1",
		"WWW.Example.ORG": "www.example.org",
		"1.2.3.256":       "1.2.3.256",
		"fe80::1%eth0":    "fe80::1%eth0",
	} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
	s := NewDomainSet("a.example.org", "2001:DB8::1", "2001:db8:0::1", "127.0.0.1")
	if got := strings.Join(s.Names(), " "); got != "a.example.org 2001:db8::1 127.0.0.1" {
		t.Errorf("set = %q", got)
	}
	if !s.Has("2001:0db8::0001") || !s.Covers("127.0.0.1") {
		t.Error("set misses an address in another spelling")
	}
	if got := AddDomain([]string{"::1"}, "0:0::1"); len(got) != 1 {
		t.Errorf("AddDomain added a duplicate: %q", got)
	}
	if IdentifierType("::1") != IdentifierIP || IdentifierType("a.org") != IdentifierDNS {
		t.Error("IdentifierType")
	}
}

func TestReverseName(t *testing.T) {
	for ip, want := range map[string]string{
		"127.0.0.1":    "1.0.0.127.in-addr.arpa",
		"192.0.2.10":   "10.2.0.192.in-addr.arpa",
		"::1":          "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
		"2001:db8::ab": "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
		"a.example":    "",
	} {
		got := ReverseName(ip)
		if got != want {
			t.Errorf("ReverseName(%q) = %q, want %q", ip, got, want)
			continue
		}
		if want == "" {
			continue
		}
		back, ok := IPFromReverseName(strings.ToUpper(got) + ".")
		if !ok || back != ip {
			t.Errorf("IPFromReverseName(%q) = %q, %v; want %q", got, back, ok, ip)
		}
	}
	for _, bad := range []string{"a.example", "1.0.0.in-addr.arpa", "x.0.0.127.in-addr.arpa", "1.0.ip6.arpa", "300.0.0.1.in-addr.arpa"} {
		if got, ok := IPFromReverseName(bad); ok {
			t.Errorf("IPFromReverseName(%q) = %q, want not ok", bad, got)
		}
	}
}

// FuzzIPShortcut: IsIP and CanonicalName skip netip.ParseAddr for names
// that cannot be IP addresses; they decide as ParseAddr on every name did.
func FuzzIPShortcut(f *testing.F) {
	for _, s := range []string{"a.example", "1.2.3.4", "2001:DB8::1", "[2001:db8::1]", "::ffff:1.2.3.4",
		"fe80::1%eth0", "1.2.3", "01.2.3.4", "0x1.2.3.4", "A.Example", "[a.example]", "", "1.2.3.4%x", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := netip.ParseAddr(s)
		if got := IsIP(s); got != (err == nil) {
			t.Errorf("IsIP(%q) = %v, ParseAddr: %v", s, got, err)
		}
		if got, want := CanonicalName(s), canonicalNameRef(s); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", s, got, want)
		}
	})
}

// canonicalNameRef is CanonicalName as it was, with ParseAddr on every name.
func canonicalNameRef(name string) string {
	if inner, ok := strings.CutPrefix(name, "["); ok && strings.HasSuffix(inner, "]") {
		if a, err := netip.ParseAddr(inner[:len(inner)-1]); err == nil && a.Is6() {
			name = inner[:len(inner)-1]
		}
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Zone() == "" && !a.Is4In6() {
		return a.String()
	}
	return strings.ToLower(name)
}
