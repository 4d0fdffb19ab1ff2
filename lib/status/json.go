package status

import (
	"net/http"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// httpDate is mod_md's time format (apr_rfc822_date).
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// period is mod_md's {"from", "until"}; nil when either end is unknown
// (md_json_set_timeperiod then leaves the key out).
func period(from, until time.Time) *Object {
	if from.IsZero() || until.IsZero() {
		return nil
	}
	return NewObject().Set("from", httpDate(from)).Set("until", httpDate(until))
}

// common is md_timeperiod_common.
func common(aFrom, aUntil, bFrom, bUntil time.Time) (time.Time, time.Time) {
	from, until := aFrom, aUntil
	if bFrom.After(from) {
		from = bFrom
	}
	if bUntil.Before(until) {
		until = bUntil
	}
	if from.After(until) {
		return time.Time{}, time.Time{}
	}
	return from, until
}

// certJSON is one certificate as status_get_cert_json(_ex) writes it.
func certJSON(c Cert, ocspJob *Job, stapling, withLog bool) *Object {
	ci := c.Info
	o := NewObject()
	o.Set("issuer-name", ci.IssuerName)
	if ci.IssuerURI != "" {
		o.Set("issuer-uri", ci.IssuerURI)
	}
	if p := period(ci.NotBefore, ci.NotAfter); p != nil {
		o.Set("valid", p)
	}
	o.Set("serial", ci.Serial)
	o.Set("sha256-fingerprint", ci.SHA256)
	if ci.ARICertID != "" {
		o.Set("ari-cert-id", ci.ARICertID)
	}
	if c.Revoked != nil {
		o.Set("revoked", revokedJSON(c.Revoked))
	}
	if stapling {
		var oj *Object
		if c.OCSP != nil {
			oj = NewObject().Set("status", c.OCSP.Status)
			if p := period(c.OCSP.Valid.From.Time, c.OCSP.Valid.Until.Time); p != nil {
				oj.Set("valid", p)
			}
		}
		if ocspJob != nil {
			if oj == nil {
				oj = NewObject()
			}
			oj.Set("renewal", jobJSON(ocspJob, withLog))
		}
		if oj != nil {
			o.Set("ocsp", oj)
		}
	}
	return o
}

// certsJSON is status_get_certs_json: one entry per present certificate,
// then "valid", the period common to all of them.
func certsJSON(certs []Cert, ocspJob *Job, stapling, withLog bool) *Object {
	o := NewObject()
	var from, until time.Time
	for i, c := range certs {
		if c.Info == nil {
			continue
		}
		if i == 0 {
			from, until = c.Info.NotBefore, c.Info.NotAfter
		} else {
			from, until = common(from, until, c.Info.NotBefore, c.Info.NotAfter)
		}
		o.Set(c.Key, certJSON(c, ocspJob, stapling, withLog))
	}
	if !from.IsZero() {
		if p := period(from, until); p != nil {
			o.Set("valid", p)
		}
	}
	return o
}

// jobJSON is a job.json as stored, without its log unless asked for.
func jobJSON(j *Job, withLog bool) *Object {
	o := NewObject()
	for _, k := range j.Raw.Keys() {
		if k == "log" && !withLog {
			continue
		}
		v, _ := j.Raw.Get(k)
		o.Set(k, v)
	}
	return o
}

// JSON is the MD in mod_md's md-status shape (status_get_md_json). withLog
// adds the job logs, as mod_md does for /md-status/<name>.
func (rep *Report) JSON(withLog bool) *Object {
	if rep.MD.State == md.StateError && len(rep.Certs) == 0 && len(rep.Problems) > 0 {
		// md.json itself is unreadable: only what is known.
		return NewObject().Set("name", rep.Name).Set("domains", []string{}).
			Set("state", md.StateError).Set("state-descr", rep.MD.StateDescr)
	}
	m := *rep.MD
	m.Extra = nil // mod_md shows the fields it knows
	b, err := m.MarshalJSON()
	if err != nil {
		// md.MD always encodes; keep a minimal object if it ever does not.
		return NewObject().Set("name", rep.Name).Set("state", md.StateError).Set("state-descr", err.Error())
	}
	// The md.json members, then what status_get_md_json adds. ("stapling"
	// is set again by mod_md to the same value, in place.)
	o := ObjectFrom(b)
	o.Set("cert", certsJSON(rep.Certs, rep.OCSPJob, rep.MD.Stapling, withLog))
	if !rep.RenewAt.IsZero() {
		o.Set("renew-at", httpDate(rep.RenewAt))
	}
	o.Set("watched", rep.Watched)
	if n := rep.Nodes.json(); n != nil {
		o.Set("nodes", n) // mdtools extension: which node ordered, which installed
	}
	if rep.Renew {
		o.Set("renew", true)
		if rep.Job != nil {
			j := jobJSON(rep.Job, withLog)
			j.Set("cert", certsJSON(rep.Staged, nil, false, false))
			o.Set("renewal", j)
		}
	}
	return o
}

// Version is what the "version" field of the list reports: mdtools'
// version, not mod_md's (set by the command from cli.Version).
var Version = "dev"

// ListJSON is mod_md's md-status list: {"version", "managed-domains"},
// without job logs.
func ListJSON(reps []*Report) *Object {
	list := make([]any, 0, len(reps))
	for _, r := range reps {
		list = append(list, r.JSON(false))
	}
	return NewObject().Set("version", "mdtools/"+Version).Set("managed-domains", list)
}

// CertificateStatusJSON is mod_md's /.httpd/certificate-status document
// for the MD (md_http_cert_status).
func (rep *Report) CertificateStatusJSON() *Object {
	full := rep.JSON(false)
	resp := NewObject()
	certs, _ := full.Get("cert")
	co, _ := certs.(*Object)
	if co != nil {
		if v, ok := co.Get("valid"); ok {
			resp.Set("valid", v)
		}
	}
	specs := rep.MD.PrivKey.Effective()
	for _, spec := range specs {
		key := spec.Name()
		cj := NewObject()
		if co != nil {
			if c, ok := co.Get(key); ok {
				c := c.(*Object)
				for _, k := range []string{"valid", "serial", "sha256-fingerprint"} {
					if v, ok := c.Get(k); ok {
						cj.Set(k, v)
					}
				}
			}
		}
		resp.Set(key, cj)
	}
	if r, ok := full.Get("renewal"); ok {
		cert, ok := r.(*Object).Get("cert")
		if !ok {
			cert = NewObject()
		}
		resp.Set("renewal", NewObject().Set("cert", cert))
	}
	return resp
}
