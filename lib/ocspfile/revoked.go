package ocspfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Leaves are the DER leaf certificates a caller has already read from
// domains/<md>/, by file name (pubcert[.<spec>].pem); HasRevoked takes
// their ids from here instead of reading those files again.
type Leaves map[string][]byte

// HasRevoked reports whether any installed certificate of the MD name
// (domains/<name>/pubcert[.<spec>].pem for the key specs in its md.json)
// is known to be revoked: its stored OCSP response or its CRL verdict says
// "revoked". This is mod_md's md_reg_has_revoked_certs; md-order calls it
// to renew such an MD at once. An MD that is not installed is not revoked.
// Unlike mod_md it does not look at the MD's stapling setting: md-staple
// checks every installed certificate, stapled or not.
//
// known, if not nil, holds leaves the caller read already (md-order's live
// certificates); the answer is the same as without them, as long as they
// are what those files hold (TestHasRevokedKnownSameAsRead).
func HasRevoked(ctx context.Context, st *store.Store, name string, known Leaves) (bool, error) {
	m, err := st.LoadMD(ctx, store.GroupDomains, name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, ks := range m.PrivKey.Effective() {
		revoked, err := specRevoked(ctx, st, name, ks, known)
		if err != nil || revoked {
			return revoked, err
		}
	}
	return false, nil
}

func specRevoked(ctx context.Context, st *store.Store, name string, ks md.KeySpec, known Leaves) (bool, error) {
	file := ks.FileName("pubcert")
	var id string
	if der, ok := known[file]; ok {
		id = CertID(der)
	} else {
		data, err := st.Read(ctx, store.GroupDomains, name, file)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if id, err = LeafID(data); err != nil {
			return false, fmt.Errorf("domains/%s/%s: %w", name, file, err)
		}
	}
	resp, ok, err := LoadResponse(ctx, st, name, id)
	if err != nil {
		return false, err
	}
	if ok && resp.Status == StatusRevoked {
		return true, nil
	}
	cs, ok, err := LoadCRLStatus(ctx, st, name, id)
	if err != nil {
		return false, err
	}
	return ok && cs.Status == StatusRevoked, nil
}
