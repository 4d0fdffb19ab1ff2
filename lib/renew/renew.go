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
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// Cert is the current certificate of one key spec (nil Leaf: missing).
type Cert struct {
	Spec md.KeySpec
	Leaf *x509.Certificate
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

// OIDTLSFeature is the TLS Feature extension (RFC 7633) that carries
// must-staple.
var OIDTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// MustStapleValue is the extension value mod_md writes: a SEQUENCE holding
// INTEGER 5 (status_request).
var MustStapleValue = []byte{0x30, 0x03, 0x02, 0x01, 0x05}

// HasMustStaple reports whether c carries the TLS Feature status_request.
func HasMustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(OIDTLSFeature) {
			var feats []int
			if _, err := asn1.Unmarshal(e.Value, &feats); err != nil {
				return false
			}
			for _, f := range feats {
				if f == 5 {
					return true
				}
			}
		}
	}
	return false
}

// Covers reports whether the certificate's DNS names cover every domain.
func Covers(c *x509.Certificate, domains []string) bool {
	for _, d := range domains {
		ok := false
		for _, n := range c.DNSNames {
			if md.DomainMatches(n, d) || n == d {
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

// State applies mod_md's state_init rules (spec §0): incomplete when a key
// spec has no certificate, a certificate does not cover all domains, or its
// must-staple extension differs from the configuration; and, beyond mod_md,
// when a certificate does not fit its private key. Expiry alone does
// not change the state. It returns md.StateComplete with an empty
// description otherwise.
func State(m *md.MD, certs []Cert) (int, string) {
	for _, c := range certs {
		name := c.Spec.Name()
		switch {
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

// WindowOr returns the MD's renew window, or mod_md's default of 33%.
func WindowOr(ts *md.Timeslice, def string) md.Timeslice {
	if ts != nil {
		return *ts
	}
	return md.MustTimeslice(def)
}
