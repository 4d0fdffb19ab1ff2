package md

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest DNS name accepted (RFC 1035 presentation form).
const MaxNameLen = 253

// ValidateDomain checks that s is a DNS name mod_md would manage: ASCII
// letters, digits, '-' and '.', labels of 1 to 63 characters, at least two
// labels, and an optional leading "*." for a wildcard. International names
// must be given in their punycode (xn--) form, since certificates carry that.
// The result is safe to use as a single path component.
func ValidateDomain(s string) error {
	if s == "" {
		return fmt.Errorf("empty domain name")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("domain name %.40q... is longer than %d characters", s, MaxNameLen)
	}
	name, wildcard := strings.CutPrefix(s, "*.")
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	if len(labels) < 2 {
		if wildcard {
			return fmt.Errorf("wildcard %q must cover a name with at least two labels", s)
		}
		return fmt.Errorf("%q is not a fully qualified domain name", s)
	}
	for _, l := range labels {
		if err := validateLabel(l); err != nil {
			return fmt.Errorf("invalid domain name %q: %v", s, err)
		}
	}
	return nil
}

func validateLabel(l string) error {
	if l == "" {
		return fmt.Errorf("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label longer than 63 characters")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c >= 0x80:
			return fmt.Errorf("non-ASCII character; use the punycode (xn--) form")
		default:
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// IsWildcard reports whether name is a "*." wildcard.
func IsWildcard(name string) bool { return strings.HasPrefix(name, "*.") }

// DomainMatches reports whether pattern (possibly "*.x.org") covers domain,
// as mod_md's md_dns_matches: a wildcard covers exactly one extra label.
func DomainMatches(pattern, domain string) bool {
	if strings.EqualFold(pattern, domain) {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*"); ok && strings.HasPrefix(rest, ".") {
		if i := strings.IndexByte(domain, '.'); i > 0 {
			return strings.EqualFold(rest, domain[i:])
		}
	}
	return false
}

// MinimalDomains drops names covered by a wildcard in the same list, as
// mod_md's md_dns_make_minimal: [x.org *.x.org www.x.org] -> [x.org *.x.org].
func MinimalDomains(domains []string) []string {
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		covered := false
		for _, p := range domains {
			if p != d && IsWildcard(p) && DomainMatches(p, d) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, d)
		}
	}
	return out
}

// AddDomain appends name lower-cased unless present (case-insensitively),
// keeping order, as mod_md's add_domain_name.
func AddDomain(list []string, name string) []string {
	name = strings.ToLower(name)
	for _, d := range list {
		if d == name {
			return list
		}
	}
	return append(list, name)
}
