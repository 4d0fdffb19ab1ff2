package renew

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/netip"

	"github.com/mdtools/mdtools/lib/md"
)

// Fingerprint is the lowercase hex SHA-256 of a certificate's DER, as
// mod_md's sha256-fingerprint.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// CertInfo describes a certificate for a record's order and install
// sections: md-order and md-install report it the same way. It reads only
// Raw, SerialNumber, NotBefore and NotAfter, so md-install's lightly
// parsed live certificates do.
func CertInfo(s md.KeySpec, c *x509.Certificate) md.CertInfo {
	return md.CertInfo{Spec: s.Name(), Serial: md.SerialHex(c.SerialNumber), SHA256: Fingerprint(c),
		Valid: md.Period{From: md.NewTime(c.NotBefore), Until: md.NewTime(c.NotAfter)}}
}

// SANNames are the certificate's DNS names followed by its IP addresses
// in canonical form (md.CanonicalName: IPv6 compressed), as mdtools shows
// them; AltNames keeps mod_md's spelling.
func SANNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			names = append(names, a.Unmap().String())
		}
	}
	return names
}
