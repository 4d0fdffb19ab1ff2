package md

import (
	"fmt"
	"net/netip"
	"strings"
)

// IP-address identifiers (RFC 8738). An MD may list IPv4 and IPv6 addresses
// next to DNS names; they are kept in one canonical form (net/netip's:
// IPv4 dotted decimal, IPv6 compressed lower case, no zone), which is what
// the CA is sent, what the store uses as a directory name and what
// certificates are compared with. mod_md itself orders every name as a DNS
// identifier; IP addresses are an mdtools extension.

// Identifier types of RFC 8555 §9.7.7 and RFC 8738.
const (
	IdentifierDNS = "dns"
	IdentifierIP  = "ip"
)

// IsIP reports whether name is an IP address literal (in any form
// net/netip parses, canonical or not).
func IsIP(name string) bool {
	if !looksLikeIP(name) {
		return false // without the error ParseAddr allocates for every DNS name
	}
	_, err := netip.ParseAddr(name)
	return err == nil
}

// IdentifierType is the ACME identifier type of a name: IdentifierIP for
// an IP address, IdentifierDNS otherwise.
func IdentifierType(name string) string {
	if IsIP(name) {
		return IdentifierIP
	}
	return IdentifierDNS
}

// looksLikeIP reports whether s can only have been meant as an IP address:
// it has a ':' (never in a DNS name) or consists of digits and dots only.
func looksLikeIP(s string) bool {
	if strings.Contains(s, ":") {
		return true
	}
	return s != "" && strings.Trim(s, "0123456789.") == ""
}

// ValidateIP checks that s is an IP address in canonical form, one a CA
// can certify: no zone, not an IPv4-mapped IPv6 address, not unspecified
// or multicast. The canonical form is safe as a single path component on
// Linux (IPv6 has ':' but no '/').
func ValidateIP(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("%q is not a valid IP address: %v", s, unwrapParseErr(err))
	}
	switch {
	case a.Zone() != "":
		return fmt.Errorf("IP address %q has a zone (%%%s); certificates name addresses without zones", s, a.Zone())
	case a.Is4In6():
		return fmt.Errorf("IP address %q is an IPv4-mapped IPv6 address; write the IPv4 address %s", s, a.Unmap())
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("IP address %q is not a host address a certificate can name", s)
	}
	if c := a.String(); c != s {
		return fmt.Errorf("IP address %q is not in canonical form; write %q", s, c)
	}
	return nil
}

// unwrapParseErr drops netip's repetition of the input from its message.
func unwrapParseErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}

// CanonicalName is the form a name is kept in: an IP address in its
// canonical form (ValidateIP; a malformed one is returned unchanged, for
// validation to reject; an IPv6 address may come in brackets, as Apache
// writes it), anything else lower-cased.
func CanonicalName(name string) string {
	if inner, ok := strings.CutPrefix(name, "["); ok && strings.HasSuffix(inner, "]") {
		// "[2001:db8::1]", as Apache writes IPv6 in ServerName
		if a, err := netip.ParseAddr(inner[:len(inner)-1]); err == nil && a.Is6() {
			name = inner[:len(inner)-1]
		}
	}
	if !looksLikeIP(name) { // a DNS name: no ParseAddr and its error
		return strings.ToLower(name)
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Zone() == "" && !a.Is4In6() {
		return a.String()
	}
	return strings.ToLower(name)
}

// ReverseName is the reverse-DNS name of an IP address (RFC 8738 §6, the
// SNI of its tls-alpn-01 challenge), without the trailing dot:
// "1.0.0.127.in-addr.arpa", "1.0.0.0...0.ip6.arpa". It is "" for a name
// that is not an IP address.
func ReverseName(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	b := a.AsSlice()
	var sb strings.Builder
	if a.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			fmt.Fprintf(&sb, "%d.", b[i])
		}
		return sb.String() + "in-addr.arpa"
	}
	const hex = "0123456789abcdef"
	for i := len(b) - 1; i >= 0; i-- {
		sb.WriteByte(hex[b[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hex[b[i]>>4])
		sb.WriteByte('.')
	}
	return sb.String() + "ip6.arpa"
}

// IPFromReverseName is the canonical IP address a reverse-DNS name stands
// for (ReverseName's inverse; a trailing dot and upper case are accepted),
// or false when name is not one.
func IPFromReverseName(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return "", false
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		a, err := netip.ParseAddr(strings.Join(parts, "."))
		if err != nil || !a.Is4() {
			return "", false
		}
		return a.String(), true
	}
	rest, ok := strings.CutSuffix(name, ".ip6.arpa")
	if !ok {
		return "", false
	}
	nibbles := strings.Split(rest, ".")
	if len(nibbles) != 32 {
		return "", false
	}
	var b [16]byte
	for i, n := range nibbles {
		if len(n) != 1 || !strings.Contains("0123456789abcdef", n) {
			return "", false
		}
		v := byte(strings.IndexByte("0123456789abcdef", n[0]))
		pos := 15 - i/2
		if i%2 == 0 {
			b[pos] |= v
		} else {
			b[pos] |= v << 4
		}
	}
	return netip.AddrFrom16(b).String(), true
}
