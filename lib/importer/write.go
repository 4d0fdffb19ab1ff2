package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// accountIndex is the store's accounts/ by account URL.
type accountIndex struct {
	byURL map[string]string
	taken map[string]bool
}

func loadAccounts(ctx context.Context, st *store.Store) (*accountIndex, error) {
	ix := &accountIndex{byURL: map[string]string{}, taken: map[string]bool{}}
	if st == nil {
		return ix, nil
	}
	ids, err := st.List(ctx, store.GroupAccounts)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		ix.taken[id] = true
		var f acmeflow.AccountFile
		if st.LoadJSON(ctx, store.GroupAccounts, id, store.FileAccount, &f) == nil && f.URL != "" {
			if _, dup := ix.byURL[f.URL]; !dup {
				ix.byURL[f.URL] = id
			}
		}
	}
	return ix, nil
}

// saveAccount stores an account in accounts/ACME-<sname>-NNNN in mod_md's
// format (account.json, account.pem encrypted with the store key), or
// finds it there already (same account URL). It reports whether it wrote.
func (ix *accountIndex) saveAccount(ctx context.Context, st *store.Store, a *account, dry bool) (bool, error) {
	if id, ok := ix.byURL[a.url]; ok {
		a.id = id
		return false, nil
	}
	id, err := md.FreeAccountID(a.caURL, func(id string) bool { return ix.taken[id] })
	if err != nil {
		return false, err
	}
	a.id = id
	ix.taken[a.id] = true
	ix.byURL[a.url] = a.id
	a.written = !dry
	if dry {
		return true, nil
	}
	status := a.status
	if status == "" {
		status = "valid"
	}
	contact := a.contact
	if contact == nil {
		contact = []string{}
	}
	f := acmeflow.AccountFile{Status: status, URL: a.url, CAURL: a.caURL, Contact: contact,
		Registration: map[string]any{"status": status, "contact": contact, "orders": a.orders}, Orders: a.orders}
	if err := st.SaveJSON(ctx, store.GroupAccounts, a.id, store.FileAccount, &f); err != nil {
		return false, err
	}
	if err := st.SaveKey(ctx, store.GroupAccounts, a.id, store.FileAccountKey, a.key); err != nil {
		return false, err
	}
	return true, nil
}

// existing says what domains/<md> holds: nothing to keep (new), exactly
// these certificates and keys (unchanged), or other certificates
// (an error: an import never replaces a certificate).
func existing(ctx context.Context, st *store.Store, p *mdPlan) (unchanged bool, err error) {
	if st == nil {
		return false, nil
	}
	if st.Exists(ctx, store.GroupStaging, p.name, "") {
		return false, fmt.Errorf("staging/%s holds a set md-order obtained for this MD already: run md-install, not an import", p.name)
	}
	files, err := st.ListFiles(ctx, store.GroupDomains, p.name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	certs := 0
	for _, f := range files {
		if strings.HasPrefix(f, "pubcert") {
			certs++
		}
	}
	if certs == 0 {
		return false, nil // a definition md-parse synced, no certificate yet
	}
	same := certs == len(p.certs)
	for _, c := range p.certs {
		chain, err1 := st.Read(ctx, store.GroupDomains, p.name, c.spec.FileName("pubcert"))
		key, err2 := st.Read(ctx, store.GroupDomains, p.name, c.spec.FileName("privkey"))
		same = same && err1 == nil && err2 == nil && bytes.Equal(chain, c.chainPEM) && bytes.Equal(key, c.keyPEM)
	}
	if !same {
		return false, fmt.Errorf("domains/%s has other certificates already; an import never replaces them", p.name)
	}
	return true, nil
}

// writeSet puts an MD's certificates, keys and md.json into tmp/<md> and
// makes that the live set domains/<md> in one rename (a definition
// without certificates that was there is archived).
func writeSet(ctx context.Context, st *store.Store, p *mdPlan, m *md.MD) error {
	if err := st.Purge(ctx, store.GroupTmp, p.name); err != nil {
		return err
	}
	for _, c := range p.certs {
		if err := st.Write(ctx, store.GroupTmp, p.name, c.spec.FileName("privkey"), c.keyPEM); err != nil {
			return err
		}
		if err := st.Write(ctx, store.GroupTmp, p.name, c.spec.FileName("pubcert"), c.chainPEM); err != nil {
			return err
		}
	}
	if err := st.SaveMD(ctx, store.GroupTmp, m); err != nil {
		return err
	}
	if _, err := st.Promote(ctx, store.GroupTmp, p.name); err != nil {
		_ = st.Purge(ctx, store.GroupTmp, p.name)
		return fmt.Errorf("making domains/%s live: %w", p.name, err)
	}
	return nil
}
