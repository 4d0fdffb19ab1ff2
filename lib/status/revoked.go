package status

import (
	"context"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// loadRevocations reads revoked-<md>.json (md-order revoke) and marks the
// installed certificates listed there. An unreadable file is a problem of
// the report.
func (r *Reader) loadRevocations(ctx context.Context, rep *Report) {
	if !r.hasRoot(store.RevokedFile(rep.Name)) {
		return
	}
	revs, err := renew.LoadRevocations(ctx, r.Store, rep.Name)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		return
	}
	if len(revs.Entries) == 0 {
		return
	}
	rep.Revoked = revs
	for i := range rep.Certs {
		c := &rep.Certs[i]
		if c.Info == nil {
			continue
		}
		if e, ok := revs.Find(c.Info.SHA256); ok {
			c.Revoked = e
		}
	}
}

// revokedJSON is a certificate's "revoked" object in md-status's JSON (an
// mdtools addition): why, when and by what it was revoked.
func revokedJSON(e *md.Revocation) *Object {
	o := NewObject().Set("reason", e.Reason).Set("reason-code", e.ReasonCode).
		Set("at", httpDate(e.At.Time)).Set("by", e.By)
	if e.Account != "" {
		o.Set("account", e.Account)
	}
	return o
}

// revokedNote is the table's word for an MD with a revoked live
// certificate ("" when none is).
func (rep *Report) revokedNote() string {
	for _, c := range rep.Certs {
		if c.Revoked != nil {
			return "revoked (" + c.Revoked.Reason + ") " + c.Revoked.At.UTC().Format("2006-01-02") + ", renewal due"
		}
	}
	return ""
}
