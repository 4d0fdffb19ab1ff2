// Package ocspfile owns the revocation verdicts kept in the store's
// ocsp/<md>/ directory: mod_md's OCSP response files
// (ocsp-<id>.json, written by md-staple or by Apache's mod_md) and
// md-staple's CRL verdicts (crl-status-<id>.json), where <id> is the
// lowercase hex SHA-1 of the certificate's DER.
//
// md-staple (lib/staple) writes them; md-order (lib/acmeflow) reads the
// verdict through HasRevoked to renew a revoked certificate at once. This
// leaf package is what both share, so that neither stage reaches into the
// other.
package ocspfile

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// StatusRevoked is the status of a revoked certificate, as mod_md writes it.
const StatusRevoked = "revoked"

// File name prefixes in ocsp/<md>/.
const (
	ocspPrefix      = "ocsp-"       // ocsp-<id>.json, mod_md's response file
	crlStatusPrefix = "crl-status-" // crl-status-<id>.json, revocation from a CRL
)

// CertID is mod_md's OCSP id of a certificate: the lowercase hex SHA-1 of
// its DER.
func CertID(der []byte) string {
	sum := sha1.Sum(der)
	return hex.EncodeToString(sum[:])
}

// LeafID returns the id of the first certificate in a PEM chain without
// parsing it as X.509 (the cheap path for runs with nothing due).
func LeafID(chainPEM []byte) (string, error) {
	block, _ := pem.Decode(chainPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate found")
	}
	return CertID(block.Bytes), nil
}

// ResponseFile is ocsp/<md>/ocsp-<id>.json.
func ResponseFile(id string) string { return ocspPrefix + id + ".json" }

// CRLStatusFile is ocsp/<md>/crl-status-<id>.json.
func CRLStatusFile(id string) string { return crlStatusPrefix + id + ".json" }

// Stored is mod_md's OCSP response file (md_ocsp.c ostat_to_json): the
// DER response base64url-encoded, its status and validity.
type Stored struct {
	Response string    `json:"response"`
	Status   string    `json:"status"`
	Valid    md.Period `json:"valid"`
}

// DER decodes the response (base64url, with or without padding).
func (s *Stored) DER() ([]byte, error) {
	r := strings.TrimRight(s.Response, "=")
	b, err := base64.RawURLEncoding.DecodeString(r)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(r)
	}
	if err != nil {
		return nil, fmt.Errorf("field \"response\" is not base64url: %w", err)
	}
	return b, nil
}

// CRLStatus is the revocation state of a certificate read from its CRL,
// for certificates whose CA runs no OCSP responder. It is ours; mod_md has
// no such file.
type CRLStatus struct {
	Status    string    `json:"status"`
	CRL       string    `json:"crl"`
	Valid     md.Period `json:"valid"`
	RevokedAt md.Time   `json:"revoked-at,omitzero"`
}

// LoadResponse reads a stored response; ok is false when there is none.
func LoadResponse(ctx context.Context, st *store.Store, group, id string) (s *Stored, ok bool, err error) {
	s = &Stored{}
	err = st.LoadJSON(ctx, store.GroupOCSP, group, ResponseFile(id), s)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if s.Response == "" {
		return nil, false, nil // mod_md treats this as no response
	}
	return s, true, nil
}

// LoadCRLStatus reads a stored CRL status; ok is false when there is none.
func LoadCRLStatus(ctx context.Context, st *store.Store, group, id string) (s *CRLStatus, ok bool, err error) {
	s = &CRLStatus{}
	err = st.LoadJSON(ctx, store.GroupOCSP, group, CRLStatusFile(id), s)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return s, true, nil
}
