package acmeflow

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

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

	// staged is the key as written to staging/<md>/account.pem, encoded
	// (and encrypted) once per run: the same account is staged with
	// every MD it orders for.
	staged struct {
		once sync.Once
		pem  []byte
		err  error
	}
}

// stagedKey is the account key as staged, encoded on first use.
func (a *Account) stagedKey(st *store.Store) ([]byte, error) {
	a.staged.once.Do(func() { a.staged.pem, a.staged.err = st.EncodeKey(store.GroupStaging, a.Key) })
	return a.staged.pem, a.staged.err
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
	if a := ownAccount(ctx, st, m, caURL, eab, nil); a != nil {
		return a, nil
	}
	return sharedAccount(ctx, st, m.Name, caURL, eab)
}

// loadAccount reads a stored account when it can serve caURL with eab.
func loadAccount(ctx context.Context, st *store.Store, g store.Group, name, caURL string, eab *md.EAB) *Account {
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

// ownAccount is the account the MD names: the one staged with it, else
// its ca.account (read through accounts, a run's cache of accounts/ by
// ID, when not nil).
func ownAccount(ctx context.Context, st *store.Store, m *md.MD, caURL string, eab *md.EAB, accounts *accountCache) *Account {
	if a := loadAccount(ctx, st, store.GroupStaging, m.Name, caURL, eab); a != nil {
		return a
	}
	if m.CA == nil || m.CA.Account == "" {
		return nil
	}
	if accounts != nil {
		return accounts.get(ctx, st, m.CA.Account, caURL, eab)
	}
	return loadAccount(ctx, st, store.GroupAccounts, m.CA.Account, caURL, eab)
}

// sharedAccount is an account no MD names: accounts/ACME-<sname>-*, then
// one staged for another MD than self.
func sharedAccount(ctx context.Context, st *store.Store, self, caURL string, eab *md.EAB) (*Account, error) {
	ids, err := st.List(ctx, store.GroupAccounts)
	if err != nil {
		return nil, err
	}
	prefix := md.AccountIDPrefix(caURL)
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			if a := loadAccount(ctx, st, store.GroupAccounts, id, caURL, eab); a != nil {
				return a, nil
			}
		}
	}
	names, err := st.List(ctx, store.GroupStaging)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n != self && st.Exists(ctx, store.GroupStaging, n, store.FileAccount) {
			if a := loadAccount(ctx, st, store.GroupStaging, n, caURL, eab); a != nil {
				return a, nil
			}
		}
	}
	return nil, nil
}

// accountCache holds, for one run, the stored accounts already read: at
// 10,000 MDs, reading (and decrypting: PBKDF2) the same account for each
// MD, and listing staging/ for each MD that names none, made a first run
// quadratic.
type accountCache struct {
	mu     sync.Mutex
	byID   map[string]*Account // loadAccount of accounts/<id> per CA and EAB (nil: not usable)
	shared map[string]*Account // sharedAccount per CA and EAB
}

// cacheKey names a CA and EAB.
func cacheKey(caURL string, eab *md.EAB) string {
	if eab == nil {
		return caURL
	}
	sum := sha256.Sum256([]byte(eab.KID + "\x00" + eab.HMAC))
	return caURL + "\x00" + hex.EncodeToString(sum[:])
}

// get reads accounts/<id> once per run, CA and EAB.
func (c *accountCache) get(ctx context.Context, st *store.Store, id, caURL string, eab *md.EAB) *Account {
	key := id + "\x00" + cacheKey(caURL, eab)
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.byID[key]
	if !ok {
		a = loadAccount(ctx, st, store.GroupAccounts, id, caURL, eab)
		if c.byID == nil {
			c.byID = map[string]*Account{}
		}
		c.byID[key] = a
	}
	return a
}

// sharedFor is sharedAccount once per run, CA and EAB (an error is not
// kept: the next MD looks again).
func (c *accountCache) sharedFor(ctx context.Context, st *store.Store, self, caURL string, eab *md.EAB) (*Account, error) {
	key := cacheKey(caURL, eab)
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.shared[key]; ok {
		return a, nil
	}
	a, err := sharedAccount(ctx, st, self, caURL, eab)
	if err != nil {
		return nil, err
	}
	if c.shared == nil {
		c.shared = map[string]*Account{}
	}
	c.shared[key] = a
	return a, nil
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

// ParseAccountKey reads md-order --account-key: "RSA" (the default:
// AccountKeyBits, what mod_md reads) or an elliptic curve Go signs with
// (P-256, P-384, P-521 or their aliases).
func ParseAccountKey(s string) (md.KeySpec, error) {
	if strings.EqualFold(s, "RSA") || s == "" {
		return md.KeySpec{Type: md.KeyRSA, Bits: AccountKeyBits}, nil
	}
	if _, ok := md.CurveName(s); !ok {
		return md.KeySpec{}, fmt.Errorf("account key %q: use RSA, P-256, P-384 or P-521", s)
	}
	return md.KeySpec{Type: md.KeyEC, Curve: s}, nil
}

// newAccountKey makes the key of a new account: RSA AccountKeyBits unless
// spec names a curve.
func newAccountKey(spec md.KeySpec) (crypto.Signer, error) {
	if spec.Type != md.KeyEC {
		return rsa.GenerateKey(rand.Reader, AccountKeyBits)
	}
	return md.GenerateKey(spec)
}

// register creates a new account on the CA (spec §5.6) with a key of
// keySpec (newAccountKey).
func register(ctx context.Context, c *acme.Client, dir *Directory, m *md.MD, eab *md.EAB, keySpec md.KeySpec) (*Account, error) {
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
	key, err := newAccountKey(keySpec)
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
