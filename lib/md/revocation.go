package md

import (
	"fmt"
	"strconv"
	"strings"
)

// Revocation is one certificate revoked with "md-order revoke", as kept in
// the store root's revoked-<md>.json (an mdtools file, which mod_md
// ignores). md-order renews an MD at once while one of its live
// certificates is listed here, raises the "revoked" event once
// (Notified), and md-status shows the entry beside the certificate.
type Revocation struct {
	Name       string `json:"name,omitempty"` // the MD, "" for a file of none
	Spec       string `json:"spec,omitempty"` // key spec, "" for a certificate given as a file
	Serial     string `json:"serial"`         // uppercase hex, as mod_md
	SHA256     string `json:"sha256-fingerprint"`
	Reason     string `json:"reason"`      // RFC 5280 name, e.g. "keyCompromise"
	ReasonCode int    `json:"reason-code"` // RFC 5280 CRLReason
	// By is what signed the request: "account" (the account URL in
	// Account) or "certificate-key".
	By      string `json:"by"`
	Account string `json:"account,omitempty"`
	CA      string `json:"ca,omitempty"` // the ACME directory asked
	At      Time   `json:"at"`
	// Notified: md-order raised the "revoked" event for it.
	Notified bool `json:"notified"`
}

// Revocations is the revoked-<md>.json file, newest entry first.
type Revocations struct {
	Entries []Revocation `json:"entries"`
}

// MaxRevocations bounds revoked-<md>.json; older entries describe
// certificates long replaced.
const MaxRevocations = 32

// Add puts r first, replacing an entry for the same certificate, and keeps
// the newest MaxRevocations.
func (rs *Revocations) Add(r Revocation) {
	out := []Revocation{r}
	for _, e := range rs.Entries {
		if e.SHA256 != r.SHA256 {
			out = append(out, e)
		}
	}
	if len(out) > MaxRevocations {
		out = out[:MaxRevocations]
	}
	rs.Entries = out
}

// Find returns the entry of the certificate with the SHA-256 fingerprint.
func (rs *Revocations) Find(sha256 string) (*Revocation, bool) {
	if rs == nil {
		return nil, false
	}
	for i := range rs.Entries {
		if rs.Entries[i].SHA256 == sha256 {
			return &rs.Entries[i], true
		}
	}
	return nil, false
}

// RevocationReasons are the RFC 5280 CRLReason codes an ACME CA accepts
// (RFC 8555 §7.6; 7 is unused, certificateHold and removeFromCRL make no
// sense for a revocation request).
var RevocationReasons = map[string]int{
	"unspecified":          0,
	"keyCompromise":        1,
	"cACompromise":         2,
	"affiliationChanged":   3,
	"superseded":           4,
	"cessationOfOperation": 5,
	"privilegeWithdrawn":   9,
	"aACompromise":         10,
}

// RevocationReasonNames lists RevocationReasons in code order, for help texts.
const RevocationReasonNames = "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise"

// ParseRevocationReason accepts a reason's RFC 5280 name (any case) or
// its code and returns the canonical name and code.
func ParseRevocationReason(s string) (string, int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		for name, code := range RevocationReasons {
			if code == n {
				return name, code, nil
			}
		}
		return "", 0, fmt.Errorf("revocation reason %d: want one of %s (or their codes 0-5, 9, 10)", n, RevocationReasonNames)
	}
	for name, code := range RevocationReasons {
		if strings.EqualFold(name, s) {
			return name, code, nil
		}
	}
	err := fmt.Errorf("unknown revocation reason %.40q: want one of %s", s, RevocationReasonNames)
	best, bestD := "", 3
	for name := range RevocationReasons {
		if d := EditDistance(strings.ToLower(s), strings.ToLower(name), 3); d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	if best != "" && bestD < 3 {
		return "", 0, fmt.Errorf("%w (did you mean %s?)", err, best)
	}
	return "", 0, err
}
