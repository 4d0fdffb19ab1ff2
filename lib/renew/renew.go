// Package renew makes md-order's decisions without touching the network or
// the clock: whether an MD's certificates are complete (mod_md's state
// rules), when renewal is due (renew window over the certificates' real
// lifetime, ARI, renew mode, static files), when a failed job may run again
// (MDRetryDelay backoff with jitter), when a new certificate is ready
// (MDActivationDelay) and whether the warn window has started. Every
// function takes the time, and the random byte where mod_md uses one, as
// arguments, so the decisions are table-tested.
package renew

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// Cert is the current certificate of one key spec, or of one static file
// (nil Leaf: missing; Unreadable: the file exists but cannot be read).
type Cert struct {
	Spec       md.KeySpec
	Leaf       *x509.Certificate
	Unreadable bool
	// KeyMismatch: the private key stored beside the certificate is not
	// the certificate's key (no server can use the pair).
	KeyMismatch bool
}

// ProblemKeyMismatch is the problem type of a certificate that does not
// fit its private key, wherever it is found.
const ProblemKeyMismatch = "urn:org:mdtools:cert-key-mismatch"

// KeyFits reports whether key is the private key of certificate c.
func KeyFits(c *x509.Certificate, key crypto.Signer) bool {
	pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// KeyMismatchDescr is the state description of a certificate that does
// not fit its private key.
func KeyMismatchDescr(spec string) string {
	return fmt.Sprintf("certificate(%s) does not match its private key.", spec)
}

// Slots names the certificates an MD has, as mod_md counts them
// (md_cert_count): one per static certificate file (MDCertificateFile) if
// it has any, else one per key spec. A static file past the key specs is
// named by the default spec, "rsa" (md_pkeys_spec_get gives none there).
func Slots(m *md.MD) md.KeySpecs {
	specs := m.PrivKey.Effective()
	if len(m.CertFiles) == 0 {
		return specs
	}
	out := make(md.KeySpecs, len(m.CertFiles))
	for i := range out {
		out[i] = md.DefaultKeySpecs[0]
		if i < len(specs) {
			out[i] = specs[i]
		}
	}
	return out
}

// OIDTLSFeature is the TLS Feature extension (RFC 7633) that carries
// must-staple.
var OIDTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// MustStapleValue is the extension value mod_md writes: a SEQUENCE holding
// INTEGER 5 (status_request).
var MustStapleValue = []byte{0x30, 0x03, 0x02, 0x01, 0x05}

// HasMustStaple is mod_md's md_cert_must_staple (src/md_crypt.c): the TLS
// Feature extension is present, whatever it lists. It is the one
// must-staple test: state_init, md-order's check of an issued certificate,
// md-staple and md-status all use it, so they cannot judge the same
// certificate differently.
func HasMustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(OIDTLSFeature) {
			return true
		}
	}
	return false
}

// AltNames are the certificate's subject alternative names as mod_md
// lists them (md_cert_get_alt_names): DNS names, URIs and IP addresses
// (IPv6 as four groups of eight hex digits).
func AltNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	for _, ip := range c.IPAddresses {
		if v4 := ip.To4(); v4 != nil {
			names = append(names, v4.String())
		} else if len(ip) == 16 {
			names = append(names, fmt.Sprintf("%x:%x:%x:%x", []byte(ip[0:4]), []byte(ip[4:8]), []byte(ip[8:12]), []byte(ip[12:16])))
		}
	}
	return names
}

// Covers reports whether the certificate's alternative names cover every
// domain (mod_md's md_is_covered_by_alt_names; wildcards match one label).
// An IP address (RFC 8738) is covered by an equal IP SAN only.
func Covers(c *x509.Certificate, domains []string) bool {
	names := AltNames(c)
	for _, d := range domains {
		if a, err := netip.ParseAddr(d); err == nil {
			if !slices.ContainsFunc(c.IPAddresses, func(ip net.IP) bool {
				b, ok := netip.AddrFromSlice(ip)
				return ok && b.Unmap() == a.Unmap()
			}) {
				return false
			}
			continue
		}
		ok := false
		for _, n := range names {
			if md.DomainMatches(n, d) || strings.EqualFold(n, d) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// State applies mod_md's state_init rules (spec §0) to the certificates of
// an MD's slots (Slots), in order, stopping at the first problem: error
// when a certificate file is unreadable; incomplete when one is missing,
// does not cover all domains, or its must-staple extension differs from the
// configuration; and, beyond mod_md, when a certificate does not fit its
// private key. Static certificate files (MDCertificateFile) are judged by
// the same rules. Expiry alone does not change the state. It returns
// md.StateComplete with an empty description otherwise. This is the one
// implementation: md-parse's store sync, md-status and md-order call it.
func State(m *md.MD, certs []Cert) (int, string) {
	for _, c := range certs {
		name := c.Spec.Name()
		switch {
		case c.Unreadable:
			return md.StateError, "error initializing"
		case c.Leaf == nil:
			return md.StateIncomplete, fmt.Sprintf("certificate(%s) is missing", name)
		case c.KeyMismatch:
			return md.StateIncomplete, KeyMismatchDescr(name)
		case !Covers(c.Leaf, m.Domains):
			return md.StateIncomplete, fmt.Sprintf("certificate(%s) does not cover all domains.", name)
		case m.MustStaple && !HasMustStaple(c.Leaf):
			return md.StateIncomplete, fmt.Sprintf("'must-staple' is requested, but certificate(%s) has it not enabled.", name)
		case !m.MustStaple && HasMustStaple(c.Leaf):
			return md.StateIncomplete, fmt.Sprintf("'must-staple' is not requested, but certificate(%s) has it enabled.", name)
		}
	}
	return md.StateComplete, ""
}

// RenewAt is when the renew window starts for the earliest of the
// certificates: notAfter minus the window (a percentage of each
// certificate's real lifetime, or a duration). Zero if certs is empty or a
// certificate is missing.
func RenewAt(window md.Timeslice, certs []Cert) time.Time {
	var at time.Time
	for _, c := range certs {
		if c.Leaf == nil {
			return time.Time{}
		}
		t := window.Start(c.Leaf.NotBefore, c.Leaf.NotAfter)
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at
}
