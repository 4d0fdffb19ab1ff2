package acmeflow

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// AccountFile is mod_md's account.json (spec §2.3).
type AccountFile struct {
	Status       string         `json:"status,omitempty"`
	URL          string         `json:"url"`
	CAURL        string         `json:"ca-url"`
	Contact      []string       `json:"contact"`
	Registration map[string]any `json:"registration,omitempty"`
	Agreement    string         `json:"agreement,omitempty"`
	Orders       string         `json:"orders,omitempty"`
	EAB          *md.EAB        `json:"eab,omitempty"`
}

// AccountKeyBits is the size of new (RSA) account keys. mod_md signs only
// RS256 and makes 3072-bit keys (MD_ACME_ACCT_PKEY_BITS); every request to
// the CA is signed with this key, and a 3072-bit signature costs about
// three times a 2048-bit one, which dominated md-order's CPU time. A
// 2048-bit RSA key is what CAs accept everywhere and what mod_md reads and
// uses just the same (it reuses any RSA account key it finds).
const AccountKeyBits = 2048

// Account is an account in use: its file, key and where it lives.
type Account struct {
	File AccountFile
	Key  crypto.Signer
	// ID is the accounts/ name ("ACME-localhost-0000"), or "" for an
	// account that is only staged (registered in this run or an earlier
	// one whose set md-install has not activated yet).
	ID string
}

// eabMatches is mod_md's rule: no EAB configured matches only accounts
// without EAB; a configured one only accounts with the same kid and hmac.
func eabMatches(have, want *md.EAB) bool {
	if want == nil || want.KID == "" {
		return have == nil || have.KID == ""
	}
	return have != nil && have.KID == want.KID && have.HMAC == want.HMAC
}

// usable reports whether a stored account can serve an MD on caURL.
func (a *AccountFile) usable(caURL string, eab *md.EAB) bool {
	return (a.Status == "" || a.Status == acme.StatusValid) && a.CAURL == caURL && a.URL != "" && eabMatches(a.EAB, eab)
}

// findStoredAccount looks for a usable account: first the MD's
// ca.account, then accounts/ACME-<sname>-*, then accounts staged for other
// MDs (spec §5.6). It does not contact the CA.
func findStoredAccount(ctx context.Context, st *store.Store, m *md.MD, caURL string, eab *md.EAB) (*Account, error) {
	try := func(g store.Group, name string) *Account {
		var f AccountFile
		if err := st.LoadJSON(ctx, g, name, store.FileAccount, &f); err != nil || !f.usable(caURL, eab) {
			return nil
		}
		key, err := st.LoadKey(ctx, g, name, store.FileAccountKey)
		if err != nil {
			return nil
		}
		a := &Account{File: f, Key: key}
		if g == store.GroupAccounts {
			a.ID = name
		}
		return a
	}
	if a := try(store.GroupStaging, m.Name); a != nil {
		return a, nil
	}
	if m.CA != nil && m.CA.Account != "" {
		if a := try(store.GroupAccounts, m.CA.Account); a != nil {
			return a, nil
		}
	}
	ids, err := st.List(ctx, store.GroupAccounts)
	if err != nil {
		return nil, err
	}
	prefix := md.AccountIDPrefix(caURL)
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			if a := try(store.GroupAccounts, id); a != nil {
				return a, nil
			}
		}
	}
	names, err := st.List(ctx, store.GroupStaging)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n != m.Name && st.Exists(ctx, store.GroupStaging, n, store.FileAccount) {
			if a := try(store.GroupStaging, n); a != nil {
				return a, nil
			}
		}
	}
	return nil, nil
}

// eabKey decodes an EAB HMAC (base64url, padded or not).
func eabKey(hmac string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(hmac); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, &Problem{Type: ProblemEABInvalid, Detail: "the external account binding HMAC (MDExternalAccountBinding) is not valid base64url"}
}

// register creates a new account on the CA (spec §5.6).
func register(ctx context.Context, c *acme.Client, dir *Directory, m *md.MD, eab *md.EAB) (*Account, error) {
	if len(m.Contacts) == 0 {
		return nil, &Problem{Type: "urn:ietf:params:acme:error:invalidContact",
			Detail: fmt.Sprintf("No contact information is available for MD %s. Configure one using the MDContactEmail or ServerAdmin directive.", m.Name)}
	}
	agreement := ""
	if m.CA != nil {
		agreement = m.CA.Agreement
	}
	if dir.Terms != "" && agreement == "" {
		return nil, &Problem{Type: "urn:ietf:params:acme:error:userActionRequired",
			Detail: fmt.Sprintf("the CA requires you to accept the terms-of-service as specified in <%s>. Please read the document that you find at that URL and, if you agree to the conditions, configure \"MDCertificateAgreement accepted\" in your Apache. Then (graceful) restart the server to activate.", dir.Terms)}
	}
	if dir.EABRequired && (eab == nil || eab.KID == "") {
		return nil, &Problem{Type: "urn:ietf:params:acme:error:externalAccountRequired",
			Detail: "the CA requires an external account binding: configure MDExternalAccountBinding <kid> <hmac>"}
	}
	key, err := rsa.GenerateKey(rand.Reader, AccountKeyBits)
	if err != nil {
		return nil, err
	}
	acct := &acme.Account{Contact: m.Contacts}
	if eab != nil && eab.KID != "" {
		k, err := eabKey(eab.HMAC)
		if err != nil {
			return nil, err
		}
		acct.ExternalAccountBinding = &acme.ExternalAccountBinding{KID: eab.KID, Key: k}
	}
	c.Key = key
	got, err := c.Register(ctx, acct, func(string) bool { return true })
	if err != nil {
		if errors.Is(err, acme.ErrAccountAlreadyExists) {
			return nil, fmt.Errorf("registering account: %w", err)
		}
		return nil, err
	}
	f := AccountFile{Status: got.Status, URL: got.URI, CAURL: dir.URL, Contact: got.Contact,
		Registration: map[string]any{"status": got.Status, "contact": got.Contact, "orders": got.OrdersURL},
		Agreement:    agreement, Orders: got.OrdersURL}
	if f.Status == "" {
		f.Status = acme.StatusValid
	}
	if eab != nil && eab.KID != "" {
		e := *eab
		f.EAB = &e
	}
	return &Account{File: f, Key: key}, nil
}
