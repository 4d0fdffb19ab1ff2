package md

import (
	"fmt"
	"strings"
)

// KnownCA is a CA mod_md knows by name. IPProfile is the ACME profile
// (draft-ietf-acme-profiles) the CA issues IP-address certificates in, ""
// when it needs none or is not known to issue them: Let's Encrypt issues
// them only in "shortlived" (letsencrypt.org/docs/profiles), so ordering
// an IP address in its default profile is rejected after the order is
// created; md-order refuses it before.
type KnownCA struct{ Name, URL, IPProfile string }

// KnownCAs are mod_md's named CAs (MDCertificateAuthority accepts the names).
var KnownCAs = []KnownCA{
	{"LetsEncrypt", "https://acme-v02.api.letsencrypt.org/directory", "shortlived"},
	{"LetsEncrypt-Test", "https://acme-staging-v02.api.letsencrypt.org/directory", "shortlived"},
	{"Buypass", "https://api.buypass.com/acme/directory", ""},
	{"Buypass-Test", "https://api.test4.buypass.no/acme/directory", ""},
}

// CANameForURL returns the known name of a CA URL, or "" if none.
func CANameForURL(url string) string {
	for _, ca := range KnownCAs {
		if strings.EqualFold(ca.URL, url) {
			return ca.Name
		}
	}
	return ""
}

// CAURLForName resolves a known CA name (case-insensitive).
func CAURLForName(name string) (string, bool) {
	for _, ca := range KnownCAs {
		if strings.EqualFold(ca.Name, name) {
			return ca.URL, true
		}
	}
	return "", false
}

// IPProfileProblem says why an order of m at the CA caURL would be
// refused for its IP addresses: the CA issues IP-address certificates
// only in a profile m does not select. "" when there is no such problem.
func (m *MD) IPProfileProblem(caURL string) string {
	ip := ""
	for _, d := range m.Domains {
		if IsIP(d) {
			ip = d
			break
		}
	}
	if ip == "" {
		return ""
	}
	for _, ca := range KnownCAs {
		if ca.IPProfile != "" && strings.EqualFold(ca.URL, caURL) && !strings.EqualFold(m.Profile, ca.IPProfile) {
			return fmt.Sprintf("%s lists the IP address %s, and %s issues IP-address certificates only in profile %q: "+
				"set MDProfile %s (md.toml: profile = %q) for this MD", m.Name, ip, ca.Name, ca.IPProfile, ca.IPProfile, ca.IPProfile)
		}
	}
	return ""
}
