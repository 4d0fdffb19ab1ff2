package staple

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/store"
)

// GroupOther is the ocsp/ set for certificates that belong to no MD
// (MDStapleOthers, --cert).
const GroupOther = "other"

// File name prefixes in ocsp/<md>/ (the first two are lib/ocspfile's
// names, matched when pruning).
const (
	ocspPrefix      = "ocsp-"       // ocsp-<id>.json, mod_md's response file
	crlStatusPrefix = "crl-status-" // crl-status-<id>.json, revocation from a CRL
	crlCachePrefix  = "crl-"        // crl-<sha1 of URL>.der, the cached CRL
)

// The stored verdict files belong to lib/ocspfile, which md-order reads
// too; these names keep md-staple's code and its callers as they were.
type (
	// Stored is mod_md's OCSP response file (ocspfile.Stored).
	Stored = ocspfile.Stored
	// CRLStatus is a certificate's revocation state from its CRL
	// (ocspfile.CRLStatus).
	CRLStatus = ocspfile.CRLStatus
)

// CertID is mod_md's OCSP id of a certificate (ocspfile.CertID).
func CertID(der []byte) string { return ocspfile.CertID(der) }

// leafID returns the id of the first certificate in a PEM chain without
// parsing it as X.509 (the cheap path for runs with nothing due).
func leafID(chainPEM []byte) (string, error) { return ocspfile.LeafID(chainPEM) }

// ResponseFile is ocsp/<md>/ocsp-<id>.json.
func ResponseFile(id string) string { return ocspfile.ResponseFile(id) }

// CRLStatusFile is ocsp/<md>/crl-status-<id>.json.
func CRLStatusFile(id string) string { return ocspfile.CRLStatusFile(id) }

// CRLCacheFile is ocsp/<md>/crl-<sha1 of url>.der.
func CRLCacheFile(url string) string {
	sum := sha1.Sum([]byte(url))
	return crlCachePrefix + hex.EncodeToString(sum[:]) + ".der"
}

func storedFrom(r *Response) *Stored {
	from, until := r.Valid()
	return &Stored{
		Response: base64.RawURLEncoding.EncodeToString(r.DER),
		Status:   r.Status,
		Valid:    md.Period{From: md.NewTime(from), Until: md.NewTime(until)},
	}
}

// LoadResponse reads a stored response; ok is false when there is none.
func LoadResponse(ctx context.Context, st *store.Store, group, id string) (s *Stored, ok bool, err error) {
	return ocspfile.LoadResponse(ctx, st, group, id)
}

// LoadCRLStatus reads a stored CRL status; ok is false when there is none.
func LoadCRLStatus(ctx context.Context, st *store.Store, group, id string) (s *CRLStatus, ok bool, err error) {
	return ocspfile.LoadCRLStatus(ctx, st, group, id)
}

// formatPeriod prints a validity as mod_md's md_timeperiod_print does.
func formatPeriod(from, until time.Time) string {
	return md.NewTime(from).UTC().Format(httpTime) + " - " + md.NewTime(until).UTC().Format(httpTime)
}

const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"
