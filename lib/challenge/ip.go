package challenge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// IP-address identifiers (RFC 8738 §7) are validated by http-01 and
// tls-alpn-01 only: there is no DNS zone to hold a dns-01 record. The
// tls-alpn-01 client names the address by its reverse-DNS name in SNI
// (RFC 8738 §6, md.ReverseName); the challenge certificate carries the
// address as an IP SAN.

// ipCapable reports whether a challenge type can validate an IP address.
func ipCapable(typ string) bool {
	return strings.EqualFold(typ, HTTP01) || strings.EqualFold(typ, TLSALPN01)
}

// CheckIPTypes refuses, before anything is ordered, an MD with IP
// addresses whose candidate challenge types cannot validate them (only
// dns-01 and other DNS-based types configured or available). The error
// is a challenge-mismatch md.StageError naming the first address.
func CheckIPTypes(rec *md.Record, types []string) *md.StageError {
	if slices.ContainsFunc(types, ipCapable) {
		return nil
	}
	for _, d := range rec.Domains {
		if md.IsIP(d) {
			return &md.StageError{Problem: ProblemMismatch, Detail: fmt.Sprintf(
				"%s is an IP address, which CAs validate only with http-01 or tls-alpn-01 (RFC 8738), and neither is available for %s (available: '%s'). "+
					"Configure MDCAChallenges / ca-challenges with http-01 or tls-alpn-01 and a way to answer it (--http-listen, --tls-listen, md-challenge serve).",
				d, rec.Name, strings.Join(types, " "))}
		}
	}
	return nil
}

// sniName is the store name a tls-alpn-01 SNI stands for: the address of
// a reverse-DNS name, else the name itself (lower case, no trailing dot).
func sniName(serverName string) string {
	if ip, ok := md.IPFromReverseName(serverName); ok {
		return ip
	}
	return strings.ToLower(strings.TrimSuffix(serverName, "."))
}
