package renew

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// RevokedLive returns the entry of the first live certificate that
// "md-order revoke" revoked (revoked-<md>.json), matched by SHA-256
// fingerprint: such an MD is due at once, as mod_md renews one whose OCSP
// status is revoked.
func RevokedLive(certs []Cert, revs *md.Revocations) (*md.Revocation, bool) {
	if revs == nil || len(revs.Entries) == 0 {
		return nil, false
	}
	for _, c := range certs {
		if c.Leaf == nil {
			continue
		}
		if r, ok := revs.Find(Fingerprint(c.Leaf)); ok {
			return r, true
		}
	}
	return nil, false
}

// revokedReason is the decision's reason for a certificate revoked with
// md-order revoke.
func revokedReason(r *md.Revocation) string {
	s := "certificate"
	if r.Spec != "" {
		s += "(" + r.Spec + ")"
	}
	return s + " " + r.Serial + " was revoked (" + r.Reason + ") with md-order revoke at " + r.At.UTC().Format(http.TimeFormat)
}

// LoadRevocations reads revoked-<name>.json from the store root (empty
// when there is none).
func LoadRevocations(ctx context.Context, st *store.Store, name string) (*md.Revocations, error) {
	var revs md.Revocations
	err := st.LoadJSON(ctx, store.GroupRoot, "", store.RevokedFile(name), &revs)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return &revs, nil
}
