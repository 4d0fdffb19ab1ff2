package md

import (
	"fmt"
	"slices"
	"strings"
)

// MaxNameLen is the longest DNS name accepted (RFC 1035 presentation form).
const MaxNameLen = 253

// ValidateDomain checks that s is a DNS name mod_md would manage: ASCII
// letters, digits, '-' and '.', labels of 1 to 63 characters, at least two
// labels, and an optional leading "*." for a wildcard. International names
// must be given in their punycode (xn--) form, since certificates carry that.
// An IP address is accepted in its canonical form (ValidateIP, RFC 8738);
// a name of digits and dots only, or with a ':', is judged as one.
// The result is safe to use as a single path component.
func ValidateDomain(s string) error {
	if s == "" {
		return fmt.Errorf("empty domain name")
	}
	if rest, wild := strings.CutPrefix(s, "*."); looksLikeIP(rest) {
		if wild {
			return fmt.Errorf("wildcard %q: an IP address has no wildcard form", s)
		}
		return ValidateIP(s)
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
	if top := labels[len(labels)-1]; strings.Trim(top, "0123456789") == "" {
		return fmt.Errorf("invalid domain name %q: the last label %q is all digits (neither a DNS name nor an IP address)", s, top)
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
// Linear: a name can only be covered by the one wildcard "*.<its parent>".
func MinimalDomains(domains []string) []string {
	wild := make(map[string]bool)
	for _, d := range domains {
		if IsWildcard(d) {
			wild[strings.ToLower(d)] = true
		}
	}
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		if p := coveringWildcard(d); p == "" || !wild[p] || strings.EqualFold(p, d) {
			out = append(out, d)
		}
	}
	return out
}

// coveringWildcard is the one wildcard that DomainMatches with name
// ("*.x.org" for "www.x.org"), lower-cased; "" when there is none.
func coveringWildcard(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		return "*" + strings.ToLower(name[i:])
	}
	return ""
}

// AddDomain appends name lower-cased unless present (case-insensitively),
// keeping order, as mod_md's add_domain_name. It scans list: for long
// lists built name by name use a DomainSet.
func AddDomain(list []string, name string) []string {
	name = CanonicalName(name)
	for _, d := range list {
		if d == name {
			return list
		}
	}
	return append(list, name)
}

// DomainSet is a list of names, lower-cased, without duplicates, in the
// order added (mod_md's add_domain_name), with constant-time lookups: a
// config with 200,000 names in one MD is read in linear time.
type DomainSet struct {
	list []string
	idx  map[string]struct{} // from more than domainSetScan names on
}

// domainSetScan: sets up to this size are searched, not indexed (most MDs
// have a name or two, and a map each was a third of md-parse's
// allocations for 100,000 vhosts).
const domainSetScan = 8

// NewDomainSet returns a set holding names (AddDomain rules).
func NewDomainSet(names ...string) *DomainSet {
	s := &DomainSet{}
	for _, n := range names {
		s.Add(n)
	}
	return s
}

// Add appends name lower-cased (an IP address in canonical form) unless
// present; it reports whether it did.
func (s *DomainSet) Add(name string) bool {
	name = CanonicalName(name)
	if s.has(name) {
		return false
	}
	s.list = append(s.list, name)
	switch {
	case s.idx != nil:
		s.idx[name] = struct{}{}
	case len(s.list) > domainSetScan:
		s.idx = make(map[string]struct{}, 2*len(s.list))
		for _, n := range s.list {
			s.idx[n] = struct{}{}
		}
	}
	return true
}

// has reports whether the canonical name is in the set.
func (s *DomainSet) has(name string) bool {
	if s.idx != nil {
		_, ok := s.idx[name]
		return ok
	}
	return slices.Contains(s.list, name)
}

// Has reports whether name is in the set (case-insensitively).
func (s *DomainSet) Has(name string) bool {
	return s.has(CanonicalName(name))
}

// Covers is mod_md's md_contains: name is in the set, or matched by a
// wildcard in it.
func (s *DomainSet) Covers(name string) bool {
	if s.Has(name) {
		return true
	}
	w := coveringWildcard(name)
	return w != "" && s.Has(w)
}

// Names returns the list; the caller must not modify it.
func (s *DomainSet) Names() []string { return s.list }

// Len is the number of names.
func (s *DomainSet) Len() int { return len(s.list) }

// Schemify prefixes scheme + ":" unless s already starts with a scheme, as
// mod_md's md_util_schemify (contacts become "mailto:" URIs).
func Schemify(s, scheme string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			return s
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			break
		}
	}
	return scheme + ":" + s
}
