package acmeflow

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// Who signs a revocation request (RFC 8555 §7.6).
const (
	RevokeByAccount = "account"         // the account that ordered it (KID form)
	RevokeByCertKey = "certificate-key" // the certificate's own private key (JWK form)
)

// RevokeRequest says which certificates to revoke, why, and with which key.
type RevokeRequest struct {
	Store *store.Store
	// Name is the MD whose live certificates (domains/<name>/pubcert*.pem)
	// are revoked; Specs limits them to some key specs (empty: all).
	Name  string
	Specs []string
	// CertFile revokes the leaf of this PEM file instead (with Name: a
	// certificate of that MD, e.g. an archived one; its account signs).
	// KeyFile is its private key, for By RevokeByCertKey.
	CertFile, KeyFile string
	Reason            string // RFC 5280 name or code; "" is unspecified
	// By is RevokeByAccount or RevokeByCertKey; "" picks the certificate
	// key for keyCompromise (CAs such as Let's Encrypt ask for it) and
	// when there is no account, else the account.
	By string
	// AccountID is the account (accounts/<id>) to sign with; default the
	// MD's ca.account, else the first usable one for its CA.
	AccountID string
	// CAURL is the ACME directory for a certificate-key revocation of a
	// file without an MD or account.
	CAURL     string
	HTTP      HTTPOptions
	UserAgent string
	LockWait  time.Duration
	Now       func() time.Time
	Log       logger.Logger
}

// revokeTarget is one certificate to revoke.
type revokeTarget struct {
	spec string
	leaf *x509.Certificate
	key  crypto.Signer // its private key, nil when unknown
}

// Revoke revokes the certificates of req at their CA and, for an MD,
// lists them in revoked-<md>.json, so that the next md-order renews the
// MD at once and raises the "revoked" event. A certificate the CA had
// already revoked counts as revoked (x/crypto/acme takes the CA's
// alreadyRevoked problem for success). It returns what was revoked, and an
// error naming each certificate that was not.
func Revoke(ctx context.Context, req RevokeRequest) ([]md.Revocation, error) {
	reason, code, err := md.ParseRevocationReason(orDefault(req.Reason, "unspecified"))
	if err != nil {
		return nil, err
	}
	if req.Name != "" {
		unlock, err := req.Store.Lock(ctx, req.Name, req.LockWait)
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", req.Name, err)
		}
		defer unlock()
	}
	var m *md.MD
	if req.Name != "" {
		if m, err = req.Store.LoadMD(ctx, store.GroupDomains, req.Name); err != nil {
			return nil, fmt.Errorf("reading the MD %s: %w", req.Name, err)
		}
	}
	targets, err := revokeTargets(ctx, req, m)
	if err != nil {
		return nil, err
	}
	by := req.By
	acct, err := revokeAccount(ctx, req, m)
	if err != nil && by == RevokeByAccount {
		return nil, err
	}
	if by == "" {
		by = RevokeByAccount
		if reason == "keyCompromise" || acct == nil {
			by = RevokeByCertKey
		}
	}
	c, err := revokeClient(req, m, acct, by)
	if err != nil {
		return nil, err
	}
	now := clockOr(req.Now)
	var done []md.Revocation
	var errs []error
	for _, t := range targets {
		r, err := revokeOne(ctx, c, t, by, reason, code, now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Name = req.Name
		if by == RevokeByAccount {
			r.Account = acct.File.URL
		}
		done = append(done, r)
	}
	if req.Name != "" && len(done) > 0 {
		if err := saveRevocations(ctx, req.Store, req.Name, done); err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// revokeOne sends one revocation request.
func revokeOne(ctx context.Context, c *acme.Client, t revokeTarget, by, reason string, code int, now time.Time) (md.Revocation, error) {
	r := md.Revocation{Spec: t.spec, Serial: md.SerialHex(t.leaf.SerialNumber), SHA256: renew.Fingerprint(t.leaf),
		Reason: reason, ReasonCode: code, By: by, CA: c.DirectoryURL, At: md.NewTime(now)}
	var key crypto.Signer
	if by == RevokeByCertKey {
		if t.key == nil {
			return r, fmt.Errorf("certificate %s: its private key is not known (give --key FILE, or revoke with the account)", r.Serial)
		}
		key = t.key
	}
	if err := c.RevokeCert(ctx, key, t.leaf.Raw, acme.CRLReasonCode(code)); err != nil {
		what := "certificate " + r.Serial
		if t.spec != "" {
			what = "certificate(" + t.spec + ") " + r.Serial
		}
		return r, fmt.Errorf("revoking %s: %w", what, err)
	}
	return r, nil
}

// revokeTargets reads the certificates to revoke and their keys.
func revokeTargets(ctx context.Context, req RevokeRequest, m *md.MD) ([]revokeTarget, error) {
	if req.CertFile != "" {
		data, err := fsread.ReadFile(req.CertFile, fsread.MaxPEM)
		if err != nil {
			return nil, err
		}
		chain, err := store.ParseChainPEM(data)
		if err != nil || len(chain) == 0 {
			return nil, fmt.Errorf("%s: no certificate in it (%v)", req.CertFile, err)
		}
		t := revokeTarget{leaf: chain[0]}
		if req.KeyFile != "" {
			kd, err := fsread.ReadFile(req.KeyFile, fsread.MaxPEM)
			if err != nil {
				return nil, err
			}
			if t.key, err = store.ParseKeyPEM(kd, nil); err != nil {
				return nil, fmt.Errorf("%s: %w", req.KeyFile, err)
			}
			if !renew.KeyFits(t.leaf, t.key) {
				return nil, fmt.Errorf("%s is not the private key of the certificate in %s", req.KeyFile, req.CertFile)
			}
		}
		if m != nil {
			t.key = orKey(t.key, liveKeyFor(ctx, req.Store, m, t.leaf))
		}
		return []revokeTarget{t}, nil
	}
	var out []revokeTarget
	specs := m.PrivKey.Effective()
	for _, want := range req.Specs {
		if !slices.ContainsFunc(specs, func(s md.KeySpec) bool { return s.Name() == want }) {
			return nil, fmt.Errorf("the MD %s has no key spec %q (it has %s)", m.Name, want, specs)
		}
	}
	for _, s := range specs {
		if len(req.Specs) > 0 && !slices.Contains(req.Specs, s.Name()) {
			continue
		}
		chain, err := req.Store.LoadChain(ctx, store.GroupDomains, m.Name, s.FileName("pubcert"))
		if errors.Is(err, fs.ErrNotExist) || err == nil && len(chain) == 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		t := revokeTarget{spec: s.Name(), leaf: chain[0]}
		if key, err := req.Store.LoadKey(ctx, store.GroupDomains, m.Name, s.FileName("privkey")); err == nil && renew.KeyFits(t.leaf, key) {
			t.key = key
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the MD %s has no installed certificate to revoke", m.Name)
	}
	return out, nil
}

func orKey(a, b crypto.Signer) crypto.Signer {
	if a != nil {
		return a
	}
	return b
}

// liveKeyFor returns the MD's stored private key that fits leaf, if any.
func liveKeyFor(ctx context.Context, st *store.Store, m *md.MD, leaf *x509.Certificate) crypto.Signer {
	for _, s := range m.PrivKey.Effective() {
		if key, err := st.LoadKey(ctx, store.GroupDomains, m.Name, s.FileName("privkey")); err == nil && renew.KeyFits(leaf, key) {
			return key
		}
	}
	return nil
}

// revokeAccount finds the account that signs: --account, else the MD's
// (ca.account, then the first usable one for its CA). nil without either.
func revokeAccount(ctx context.Context, req RevokeRequest, m *md.MD) (*Account, error) {
	if req.AccountID != "" {
		a, err := LoadAccount(ctx, req.Store, req.AccountID)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	if m == nil {
		return nil, errors.New("revoking with an account needs the MD's name or --account ID")
	}
	caURL := m.EffectiveCAURLs()[0]
	a, err := findStoredAccount(ctx, req.Store, m, caURL, m.EAB)
	if err == nil && a == nil {
		err = fmt.Errorf("no account for the MD %s at %s in the store", m.Name, caURL)
	}
	return a, err
}

// LoadAccount reads accounts/<id>.
func LoadAccount(ctx context.Context, st *store.Store, id string) (*Account, error) {
	var f AccountFile
	if err := st.LoadJSON(ctx, store.GroupAccounts, id, store.FileAccount, &f); err != nil {
		return nil, fmt.Errorf("reading account %s: %w", id, err)
	}
	key, err := st.LoadKey(ctx, store.GroupAccounts, id, store.FileAccountKey)
	if err != nil {
		return nil, fmt.Errorf("reading the key of account %s: %w", id, err)
	}
	return &Account{File: f, Key: key, ID: id}, nil
}

// revokeClient is the ACME client of the CA that issued the certificates:
// the account's CA, else the MD's, else req.CAURL.
func revokeClient(req RevokeRequest, m *md.MD, acct *Account, by string) (*acme.Client, error) {
	caURL := req.CAURL
	switch {
	case acct != nil:
		caURL = acct.File.CAURL
	case m != nil && caURL == "":
		caURL = m.EffectiveCAURLs()[0]
	}
	if caURL == "" {
		return nil, errors.New("revoking a certificate file with its key needs the CA: --ca URL (its ACME directory)")
	}
	o := req.HTTP
	if m != nil {
		if o.ProxyURL == "" {
			o.ProxyURL = m.ProxyURL
		}
		if m.CACerts != "" && m.CACerts != "none" {
			o.CAFiles = append(slices.Clone(o.CAFiles), m.CACerts)
		}
	}
	hc, err := HTTPClient(o)
	if err != nil {
		return nil, err
	}
	c := &acme.Client{DirectoryURL: caURL, HTTPClient: hc, UserAgent: orDefault(req.UserAgent, "mdtools-md-order"), RetryBackoff: retryPolicy(clockOr(req.Now))}
	if by == RevokeByAccount {
		c.Key, c.KID = acct.Key, acme.KeyID(acct.File.URL)
	}
	return c, nil
}

// saveRevocations adds entries to revoked-<name>.json.
func saveRevocations(ctx context.Context, st *store.Store, name string, add []md.Revocation) error {
	revs, err := renew.LoadRevocations(ctx, st, name)
	if err != nil {
		return err
	}
	for _, r := range add {
		revs.Add(r)
	}
	return st.SaveJSON(ctx, store.GroupRoot, "", store.RevokedFile(name), revs)
}
