package install

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// accountIndex knows the accounts in accounts/ by account URL and CA URL.
// It is loaded once per run, under the store-wide lock.
type accountIndex struct {
	byURL   map[string]string // account url -> id
	byCA    map[string]string // ca-url -> first valid id
	taken   map[string]bool
	loaded  bool
	loadErr error
}

type accountHead struct {
	Status string `json:"status"`
	URL    string `json:"url"`
	CAURL  string `json:"ca-url"`
}

func (ix *accountIndex) load(ctx context.Context, st *store.Store) error {
	if ix.loaded {
		return ix.loadErr
	}
	ix.loaded = true
	ix.byURL, ix.byCA, ix.taken = map[string]string{}, map[string]string{}, map[string]bool{}
	ids, err := st.List(ctx, store.GroupAccounts)
	if err != nil {
		ix.loadErr = err
		return err
	}
	for _, id := range ids {
		ix.taken[id] = true
		var h accountHead
		if err := st.LoadJSON(ctx, store.GroupAccounts, id, store.FileAccount, &h); err != nil {
			continue // not an account, or a damaged one: never reused, never overwritten
		}
		if h.URL != "" {
			if _, dup := ix.byURL[h.URL]; !dup {
				ix.byURL[h.URL] = id
			}
		}
		if h.CAURL != "" && h.Status == "valid" {
			if _, dup := ix.byCA[h.CAURL]; !dup {
				ix.byCA[h.CAURL] = id
			}
		}
	}
	return nil
}

// save stores a staged account in accounts/ and returns its id: the id of
// an account with the same account URL (the same account staged by several
// MDs is saved once), else the next free ACME-<sname>-NNNN. Unlike mod_md,
// which may reuse the id of a different account for the same CA and
// overwrite it, a different account is never overwritten, so no account
// key is ever lost.
func (ix *accountIndex) save(ctx context.Context, st *store.Store, raw []byte, key crypto.Signer, caURL string) (string, error) {
	if err := ix.load(ctx, st); err != nil {
		return "", err
	}
	var h accountHead
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", invalidf("staged account.json is not valid JSON: %v", err)
	}
	if h.URL == "" {
		return "", invalidf("staged account.json has no account url")
	}
	if h.CAURL == "" {
		h.CAURL = caURL
	}
	id, ok := ix.byURL[h.URL]
	if !ok {
		var err error
		if id, err = md.FreeAccountID(h.CAURL, func(id string) bool { return ix.taken[id] }); err != nil {
			return "", fmt.Errorf("saving account: %w", err)
		}
	}
	if err := st.Write(ctx, store.GroupAccounts, id, store.FileAccount, raw); err != nil {
		return "", err
	}
	if err := st.SaveKey(ctx, store.GroupAccounts, id, store.FileAccountKey, key); err != nil {
		return "", err
	}
	ix.taken[id] = true
	ix.byURL[h.URL] = id
	if h.Status == "valid" || h.Status == "" {
		if _, dup := ix.byCA[h.CAURL]; !dup {
			ix.byCA[h.CAURL] = id
		}
	}
	return id, nil
}

// forCA returns a valid account for the CA URL, as mod_md does when a
// staged set reused an account without naming it.
func (ix *accountIndex) forCA(ctx context.Context, st *store.Store, caURL string) string {
	if ix.load(ctx, st) != nil {
		return ""
	}
	return ix.byCA[caURL]
}
