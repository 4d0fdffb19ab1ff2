package staple

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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

// certState is the per-certificate retry state kept in ocsp/<md>/job.json
// under "certs" (mod_md keeps it in memory; a cron tool must persist it).
type certState struct {
	Spec      string  `json:"spec,omitempty"`
	Errors    int     `json:"errors"`
	NextRun   md.Time `json:"next-run,omitzero"`
	LastError string  `json:"last-error,omitempty"`
}

const jobCertsKey = "certs"

func jobCerts(j *md.Job) map[string]certState {
	m := map[string]certState{}
	if raw, ok := j.Extra[jobCertsKey]; ok {
		_ = json.Unmarshal(raw, &m) // a damaged entry only loses backoff state
	}
	return m
}

func setJobCerts(j *md.Job, m map[string]certState) {
	if j.Extra == nil {
		j.Extra = map[string]json.RawMessage{}
	}
	if len(m) == 0 {
		delete(j.Extra, jobCertsKey)
		return
	}
	b, err := json.Marshal(m)
	if err == nil {
		j.Extra[jobCertsKey] = b
	}
}

// formatPeriod prints a validity as mod_md's md_timeperiod_print does.
func formatPeriod(from, until time.Time) string {
	return md.NewTime(from).UTC().Format(httpTime) + " - " + md.NewTime(until).UTC().Format(httpTime)
}

const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

// RetryState is the backoff md-staple keeps for one certificate (by its
// ocsp-<id>.json id) in the OCSP job: failed attempts since the last
// success and the earliest retry. md-status --plan reads it so that it
// judges a certificate as md-staple does (renew.OCSPDue).
func RetryState(j *md.Job, id string) (errors int, nextRun time.Time) {
	if j == nil {
		return 0, time.Time{}
	}
	cs := jobCerts(j)[id]
	return cs.Errors, cs.NextRun.Time
}
