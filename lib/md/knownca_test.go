package md

import (
	"strings"
	"testing"
)

func TestIPProfileProblem(t *testing.T) {
	le, _ := CAURLForName("LetsEncrypt")
	staging, _ := CAURLForName("LetsEncrypt-Test")
	buypass, _ := CAURLForName("Buypass")
	cases := []struct {
		name    string
		domains []string
		profile string
		ca      string
		want    string // "" for no problem, else a part of the message
	}{
		{"ipv4 at LE, default profile", []string{"a.example", "192.0.2.1"}, "", le, `only in profile "shortlived"`},
		{"ipv6 at LE staging", []string{"2001:db8::1"}, "classic", staging, "2001:db8::1"},
		{"LE URL in upper case", []string{"192.0.2.1"}, "", strings.ToUpper(le), "LetsEncrypt"},
		{"ip at LE, shortlived", []string{"192.0.2.1"}, "shortlived", le, ""},
		{"profile matched case-insensitively", []string{"192.0.2.1"}, "ShortLived", le, ""},
		{"dns names only at LE", []string{"a.example", "b.example"}, "", le, ""},
		{"ip at a CA without the rule", []string{"192.0.2.1"}, "", buypass, ""},
		{"ip at an unknown CA", []string{"192.0.2.1"}, "", "https://ca.internal/dir", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &MD{Name: tc.domains[0], Domains: tc.domains, Profile: tc.profile}
			got := m.IPProfileProblem(tc.ca)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("IPProfileProblem = %q, want %q", got, tc.want)
			}
		})
	}
}
