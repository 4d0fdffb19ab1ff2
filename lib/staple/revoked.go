package staple

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// HasRevoked reports whether any installed certificate of the MD name
// (domains/<name>/pubcert[.<spec>].pem for the key specs in its md.json)
// is known to be revoked: its stored OCSP response
// (ocsp/<name>/ocsp-<id>.json, written by md-staple or by Apache's mod_md)
// or its CRL verdict (ocsp/<name>/crl-status-<id>.json) says "revoked".
// This is mod_md's md_reg_has_revoked_certs; md-order calls it to renew
// such an MD at once. An MD that is not installed is not revoked. Unlike
// mod_md it does not look at the MD's stapling setting: md-staple checks
// every installed certificate, stapled or not.
func HasRevoked(ctx context.Context, st *store.Store, name string) (bool, error) {
	m, err := st.LoadMD(ctx, store.GroupDomains, name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, ks := range m.PrivKey.Effective() {
		revoked, err := specRevoked(ctx, st, name, ks)
		if err != nil || revoked {
			return revoked, err
		}
	}
	return false, nil
}

func specRevoked(ctx context.Context, st *store.Store, name string, ks md.KeySpec) (bool, error) {
	data, err := st.Read(ctx, store.GroupDomains, name, ks.FileName("pubcert"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	id, err := leafID(data)
	if err != nil {
		return false, fmt.Errorf("domains/%s/%s: %w", name, ks.FileName("pubcert"), err)
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
