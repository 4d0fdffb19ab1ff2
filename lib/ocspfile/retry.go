package ocspfile

import (
	"encoding/json"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// CertState is md-staple's retry state of one certificate, kept in
// ocsp/<md>/job.json under "certs" by its ocsp-<id>.json id (mod_md keeps
// it in memory; a cron tool must persist it).
type CertState struct {
	Spec      string  `json:"spec,omitempty"`
	Errors    int     `json:"errors"`
	NextRun   md.Time `json:"next-run,omitzero"`
	LastError string  `json:"last-error,omitempty"`
}

const jobCertsKey = "certs"

// JobCerts reads the per-certificate retry states of an OCSP job.
func JobCerts(j *md.Job) map[string]CertState {
	m := map[string]CertState{}
	if raw, ok := j.Extra[jobCertsKey]; ok {
		_ = json.Unmarshal(raw, &m) // a damaged entry only loses backoff state
	}
	return m
}

// SetJobCerts stores the per-certificate retry states in an OCSP job.
func SetJobCerts(j *md.Job, m map[string]CertState) {
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

// RetryState is the backoff md-staple keeps for one certificate in the
// OCSP job: failed attempts since the last success and the earliest
// retry. md-status --plan reads it so that it judges a certificate as
// md-staple does (renew.OCSPDue).
func RetryState(j *md.Job, id string) (errors int, nextRun time.Time) {
	if j == nil {
		return 0, time.Time{}
	}
	cs := JobCerts(j)[id]
	return cs.Errors, cs.NextRun.Time
}
