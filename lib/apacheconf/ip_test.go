package apacheconf

import (
	"slices"
	"strings"
	"testing"
)

// TestIPAddressDomains: MDomain and MDMembers take IPv4 and IPv6 addresses
// (an mdtools extension, RFC 8738), bare or in brackets as in ServerName,
// kept in canonical form; a malformed address is a file:line error.
func TestIPAddressDomains(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		want       []string // domains of the one MD
		wantErr    string
	}{
		{"v4 and v6", "MDomain a.test 192.0.2.10 2001:DB8::1\n", []string{"a.test", "192.0.2.10", "2001:db8::1"}, ""},
		{"v6 first, bracketed", "MDomain [2001:db8:0::1] a.test\n", []string{"2001:db8::1", "a.test"}, ""},
		{"section members", "<MDomain ::1>\n  MDMembers 127.0.0.1 [::1]\n</MDomain>\n", []string{"::1", "127.0.0.1"}, ""},
		{"vhost by address", "MDomain 192.0.2.10\n<VirtualHost *:443>\n  ServerName 192.0.2.10\n  SSLEngine on\n</VirtualHost>\n", []string{"192.0.2.10"}, ""},
		{"malformed v4", "MDomain a.test 192.0.2.300\n", nil, "main.conf:2: \"192.0.2.300\" is not a valid IP address"},
		{"zone", "MDomain fe80::1%eth0\n", nil, "main.conf:2: IP address \"fe80::1%eth0\" has a zone"},
		{"wildcard of an address", "MDomain a.test *.2.0.192\n", nil, "main.conf:2: wildcard \"*.2.0.192\": an IP address has no wildcard form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, errs, _ := loadText(t, map[string]string{"main.conf": "Listen 443\n" + tc.conf}, Options{})
			if tc.wantErr != "" {
				if !strings.Contains(errs.Error(), tc.wantErr) {
					t.Fatalf("errors %v; want %q", errs, tc.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(pc.Records) != 1 || !slices.Equal(pc.Records[0].Domains, tc.want) || pc.Records[0].Name != tc.want[0] {
				t.Fatalf("records %+v; want one MD with %q", pc.Records, tc.want)
			}
		})
	}
}
