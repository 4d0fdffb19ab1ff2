package acmeflow

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// FileAccountNewKey is a rollover's new account key, staged in
// accounts/<id>/ before the CA is asked to switch (mdtools only; mod_md
// reads account.pem alone). Whoever finds it asks the CA which key it
// knows and finishes the switch: a crash between the CA's answer and the
// write never loses the account.
const FileAccountNewKey = "account-new.pem"

// AccountInfo is one stored account as "md-order accounts" shows it. It
// never holds the key or an EAB HMAC.
type AccountInfo struct {
	ID       string   `json:"id"`
	CAURL    string   `json:"ca-url"`
	URL      string   `json:"url"`
	Contacts []string `json:"contacts"`
	Status   string   `json:"status"`
	EABKID   string   `json:"eab-kid,omitempty"`
	Key      string   `json:"key,omitempty"` // "RSA 2048", "EC P-256"
	// MDs are the MDs whose ca.account names this account.
	MDs []string `json:"mds"`
	// RolloverPending: a new key is staged (account-new.pem) and the next
	// use of the account finishes the rollover.
	RolloverPending bool   `json:"rollover-pending,omitempty"`
	Problem         string `json:"problem,omitempty"` // why the account could not be read
}

// ListAccounts reads every account in accounts/ and the MDs that use it.
func ListAccounts(ctx context.Context, st *store.Store) ([]AccountInfo, error) {
	ids, err := st.List(ctx, store.GroupAccounts)
	if err != nil {
		return nil, err
	}
	users, err := accountUsers(ctx, st)
	if err != nil {
		return nil, err
	}
	out := make([]AccountInfo, 0, len(ids))
	for _, id := range ids {
		info := AccountInfo{ID: id, MDs: users[id], Contacts: []string{}}
		if info.MDs == nil {
			info.MDs = []string{}
		}
		a, err := LoadAccount(ctx, st, id)
		if err != nil {
			info.Problem = err.Error()
			out = append(out, info)
			continue
		}
		info.CAURL, info.URL, info.Status = a.File.CAURL, a.File.URL, orDefault(a.File.Status, acme.StatusValid)
		if a.File.Contact != nil {
			info.Contacts = a.File.Contact
		}
		if a.File.EAB != nil {
			info.EABKID = a.File.EAB.KID
		}
		info.Key = keyName(a.Key.Public())
		info.RolloverPending = st.Exists(ctx, store.GroupAccounts, id, FileAccountNewKey)
		out = append(out, info)
	}
	return out, nil
}

// accountUsers maps account ids to the MDs (domains/) whose ca.account
// names them.
func accountUsers(ctx context.Context, st *store.Store) (map[string][]string, error) {
	names, err := st.List(ctx, store.GroupDomains)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, n := range names {
		m, err := st.LoadMD(ctx, store.GroupDomains, n)
		if err != nil || m.CA == nil || m.CA.Account == "" {
			continue
		}
		users[m.CA.Account] = append(users[m.CA.Account], n)
	}
	return users, nil
}

func keyName(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}

// AccountOptions reach an account's CA.
type AccountOptions struct {
	HTTP      HTTPOptions
	UserAgent string
	LockWait  time.Duration
	Now       func() time.Time
}

// client is an ACME client for the account's CA, signing with key as the
// account (kid form).
func (o AccountOptions) client(a *Account) (*acme.Client, error) {
	hc, err := HTTPClient(o.HTTP)
	if err != nil {
		return nil, err
	}
	return &acme.Client{DirectoryURL: a.File.CAURL, HTTPClient: hc, UserAgent: orDefault(o.UserAgent, "mdtools-md-order"),
		RetryBackoff: retryPolicy(clockOr(o.Now)), Key: a.Key, KID: acme.KeyID(a.File.URL)}, nil
}

// lockAccounts takes the store's account lock (registrations, rollovers,
// contact updates and deactivations are serialised by it).
func lockAccounts(ctx context.Context, st *store.Store, wait time.Duration) (func(), error) {
	if wait < accountLockWait {
		wait = accountLockWait
	}
	unlock, err := st.Lock(ctx, accountLock, wait)
	if err != nil {
		return nil, fmt.Errorf("taking the account lock: %w", err)
	}
	return unlock, nil
}

// lockAccount takes the account lock and loads account id under it.
func lockAccount(ctx context.Context, st *store.Store, id string, wait time.Duration) (*Account, func(), error) {
	unlock, err := lockAccounts(ctx, st, wait)
	if err != nil {
		return nil, nil, err
	}
	a, err := LoadAccount(ctx, st, id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return a, unlock, nil
}

// UpdateContacts sets an account's contacts at its CA (RFC 8555 §7.3.2)
// and in accounts/<id>/account.json.
func UpdateContacts(ctx context.Context, st *store.Store, id string, contacts []string, o AccountOptions) (*AccountFile, error) {
	a, unlock, err := lockAccount(ctx, st, id, o.LockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := o.client(a)
	if err != nil {
		return nil, err
	}
	got, err := c.UpdateReg(ctx, &acme.Account{Contact: contacts})
	if err != nil {
		return nil, fmt.Errorf("updating the contacts of account %s: %w", id, err)
	}
	a.File.Contact = got.Contact
	if a.File.Contact == nil {
		a.File.Contact = contacts
	}
	if a.File.Registration != nil {
		a.File.Registration["contact"] = a.File.Contact
	}
	if err := st.SaveJSON(ctx, store.GroupAccounts, id, store.FileAccount, &a.File); err != nil {
		return nil, fmt.Errorf("the CA has the new contacts, but saving account %s failed: %w", id, err)
	}
	return &a.File, nil
}

// StatusDeactivated is an account's status after DeactivateAccount; the
// account selection (usable) skips it.
const StatusDeactivated = "deactivated"

// DeactivateAccount deactivates an account at its CA (RFC 8555 §7.3.6)
// and marks it "deactivated" in account.json, so that no MD uses it again.
// An account the CA no longer accepts (deactivated before) is marked too.
func DeactivateAccount(ctx context.Context, st *store.Store, id string, o AccountOptions) (*AccountFile, error) {
	a, unlock, err := lockAccount(ctx, st, id, o.LockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if a.File.Status != StatusDeactivated {
		c, err := o.client(a)
		if err != nil {
			return nil, err
		}
		if err := c.DeactivateReg(ctx); err != nil && !isProblem(err, "urn:ietf:params:acme:error:unauthorized") {
			return nil, fmt.Errorf("deactivating account %s: %w", id, err)
		}
	}
	a.File.Status = StatusDeactivated
	if a.File.Registration != nil {
		a.File.Registration["status"] = StatusDeactivated
	}
	if err := st.SaveJSON(ctx, store.GroupAccounts, id, store.FileAccount, &a.File); err != nil {
		return nil, fmt.Errorf("the CA deactivated account %s, but saving its status failed (run deactivate again): %w", id, err)
	}
	return &a.File, nil
}

// sameContacts compares contact lists as sets, ignoring case.
func sameContacts(a, b []string) bool {
	norm := func(l []string) []string {
		out := make([]string, len(l))
		for i, s := range l {
			out[i] = strings.ToLower(strings.TrimSpace(s))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}
