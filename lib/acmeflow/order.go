package acmeflow

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// pickProfile matches MDProfile case-insensitively against the CA's
// profiles (spec §5.5).
func pickProfile(rec *md.Record, dir *Directory) (string, error) {
	if rec.Profile == "" {
		return "", nil
	}
	names := make([]string, 0, len(dir.Profiles))
	for p := range dir.Profiles {
		if strings.EqualFold(p, rec.Profile) {
			return p, nil
		}
		names = append(names, p)
	}
	sort.Strings(names)
	if rec.ProfileMandatory {
		return "", &Problem{Type: ProblemInvalidProfile, Detail: fmt.Sprintf(
			"the CA does not offer profile %q (it offers: %s) and MDProfileMandatory is on", rec.Profile, strings.Join(names, ", "))}
	}
	return "", nil
}

// orderSpec obtains the certificate for one key spec, resuming a staged
// order when there is one.
func (a *attempt) orderSpec(ctx context.Context, spec md.KeySpec, liveLeaf *x509.Certificate) ([]*x509.Certificate, error) {
	ids := md.MinimalDomains(a.rec.Domains)
	o, of := a.resumeOrder(ctx, spec)
	if o == nil {
		var err error
		if o, of, err = a.newOrder(ctx, spec, ids, of, liveLeaf); err != nil {
			return nil, err
		}
	}
	keyc := a.startKey(ctx, spec) // the new key is made while the CA validates
	if o.Status == acme.StatusPending {
		ready, err := a.awaitReady(ctx, o, &of)
		if err != nil {
			return nil, err
		}
		o = ready
	}
	kr := <-keyc
	if kr.err != nil {
		return nil, kr.err
	}
	if !kr.stored {
		if err := a.r.Store.SaveKey(ctx, store.GroupStaging, a.name, spec.FileName("privkey"), kr.key); err != nil {
			return nil, err
		}
	}
	o, err := a.issue(ctx, o, spec, ids, kr.key)
	if err != nil {
		return nil, err
	}
	return a.stageChain(ctx, o, spec, kr.key, of)
}

// resumeOrder returns the order staged for spec when the CA still knows
// it and it is not invalid; else it tears the staged one down and returns
// what is left of its file (its intent, for findOrphan).
func (a *attempt) resumeOrder(ctx context.Context, spec md.KeySpec) (*acme.Order, orderFile) {
	st := a.r.Store
	var of orderFile
	if err := st.LoadJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &of); err != nil || of.URL == "" || (of.Spec != "" && of.Spec != spec.Name()) {
		return nil, of
	}
	got, _, err := a.sig.getOrder(ctx, of.URL)
	switch {
	case err != nil:
		a.progress("Staged order %s is not usable (%v), creating a new one", of.URL, err)
	case got.Status == acme.StatusInvalid:
		a.progress("Staged order %s is invalid, creating a new one", of.URL)
	default:
		a.resumed = true
		a.progress("Resuming staged order %s (status %s)", of.URL, got.Status)
		return got, of
	}
	a.teardown(ctx, of.Tasks)
	_ = st.Remove(ctx, store.GroupStaging, a.name, store.FileOrder)
	return nil, orderFile{}
}

// newOrder adopts an orphaned order for the same names (a run killed
// after newOrder) or creates one, and stages its order file.
func (a *attempt) newOrder(ctx context.Context, spec md.KeySpec, ids []string, of orderFile, liveLeaf *x509.Certificate) (*acme.Order, orderFile, error) {
	profile, err := pickProfile(a.rec, a.ca.dir)
	if err != nil {
		return nil, of, err
	}
	if a.rec.Profile != "" && profile == "" {
		a.r.log().Warnf("%s: the CA does not offer profile %q; ordering without a profile", a.name, a.rec.Profile)
	}
	var o *acme.Order
	if of.URL == "" && of.Intent != nil && sameIdentifiers(of.Intent.Identifiers, ids) {
		o = a.findOrphan(ctx, ids)
	}
	if o == nil {
		if o, err = a.createOrder(ctx, spec, ids, profile, liveLeaf); err != nil {
			return nil, of, err
		}
	}
	of = orderFile{URL: o.URI, Status: o.Status, Authorizations: o.AuthzURLs, Finalize: o.FinalizeURL, Spec: spec.Name()}
	if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &of); err != nil {
		return nil, of, err
	}
	return o, of, nil
}

// keyResult is the order's private key: the staged one (stored), or a
// new one made in the background.
type keyResult struct {
	key    crypto.Signer
	stored bool
	err    error
}

// startKey returns the staged key of spec at once, or makes a new one in
// the background.
func (a *attempt) startKey(ctx context.Context, spec md.KeySpec) <-chan keyResult {
	keyc := make(chan keyResult, 1)
	if key, err := a.r.Store.LoadKey(ctx, store.GroupStaging, a.name, spec.FileName("privkey")); err == nil {
		keyc <- keyResult{key: key, stored: true}
		return keyc
	}
	go func() {
		k, err := a.orderKey(ctx, spec)
		keyc <- keyResult{key: k, err: err}
	}()
	return keyc
}

// awaitReady answers the pending order's challenges and waits until the
// CA has validated them all.
func (a *attempt) awaitReady(ctx context.Context, o *acme.Order, of *orderFile) (*acme.Order, error) {
	pending, err := a.authorize(ctx, o, of)
	if err != nil {
		return nil, err
	}
	a.progress("Waiting for order to become ready")
	ready, err := a.sig.waitOrder(ctx, o.URI, 30*time.Millisecond, acme.StatusReady, acme.StatusProcessing, acme.StatusValid)
	if err != nil {
		return nil, a.authzFailure(ctx, pending, fmt.Errorf("waiting for the order: %w", err))
	}
	a.progress("Monitoring challenge status for %s: order is %s, all domain authorizations are valid", a.name, ready.Status)
	return ready, nil
}

// issue finalizes a ready order with a CSR for key, or waits for one the
// CA is processing already, until it is valid.
func (a *attempt) issue(ctx context.Context, o *acme.Order, spec md.KeySpec, ids []string, key crypto.Signer) (*acme.Order, error) {
	var err error
	switch o.Status {
	case acme.StatusReady:
		a.progress("Submitting %s CSR to CA", spec.Name())
		csr, err := CSR(ids, key, a.rec.MustStaple)
		if err != nil {
			return nil, err
		}
		if o, err = a.sig.finalize(ctx, o, csr); err != nil {
			return nil, fmt.Errorf("finalizing the order: %w", err)
		}
	case acme.StatusProcessing:
		if o, err = a.sig.waitOrder(ctx, o.URI, 0, acme.StatusValid); err != nil {
			return nil, fmt.Errorf("waiting for the certificate: %w", err)
		}
	}
	return o, nil
}

// stageChain retrieves the issued chain, checks it against key and the
// MD, stages it and ends the order (challenges torn down, order file gone).
func (a *attempt) stageChain(ctx context.Context, o *acme.Order, spec md.KeySpec, key crypto.Signer, of orderFile) ([]*x509.Certificate, error) {
	st := a.r.Store
	a.progress("Retrieving %s certificate chain for %s", spec.Name(), a.name)
	chain, err := a.retrieveChain(ctx, o.CertURL)
	if err != nil {
		return nil, fmt.Errorf("retrieving the certificate: %w", err)
	}
	if err := Verify(chain, key, a.rec.Domains, a.rec.MustStaple, a.r.now()); err != nil {
		return nil, err
	}
	if err := st.SaveChain(ctx, store.GroupStaging, a.name, spec.FileName("pubcert"), chain); err != nil {
		return nil, err
	}
	a.teardown(ctx, of.Tasks)
	if err := st.Remove(ctx, store.GroupStaging, a.name, store.FileOrder); err != nil {
		return nil, err
	}
	return chain, nil
}

// createOrder sends newOrder, with ARI "replaces" for the live
// certificate when the CA has renewalInfo. The intent is saved first (see
// orderFile.Intent).
func (a *attempt) createOrder(ctx context.Context, spec md.KeySpec, ids []string, profile string, liveLeaf *x509.Certificate) (*acme.Order, error) {
	intent := orderFile{Spec: spec.Name(), Intent: &orderIntent{Identifiers: ids, At: md.NewTime(a.r.now())}}
	if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &intent); err != nil {
		return nil, err
	}
	replaces := ""
	if a.rec.ARIRenewals && a.ca.dir.RenewalInfo != "" && liveLeaf != nil {
		replaces, _ = CertID(liveLeaf)
	}
	a.progress("Creating new order, key-spec=%s, profile=%s, replacing-cert=%s", spec, orNone(profile), orNone(replaces))
	o, err := a.sig.newOrder(ctx, a.ca.dir.NewOrder, ids, profile, replaces)
	if replaces != "" && isProblem(err, ProblemAlreadyReplaced) {
		// An earlier order already replaced the live certificate: a
		// staged set that was forced over, lost or rejected. Naming it
		// again would fail forever; order without "replaces".
		a.progress("The CA says certificate %s already has a replacement order (a staged set that was forced over, lost or rejected); creating the order without replacing-cert", replaces)
		a.rec.Order.Reason += "; ordered without ARI replaces (" + replaces + " was already replaced by an earlier order)"
		o, err = a.sig.newOrder(ctx, a.ca.dir.NewOrder, ids, profile, "")
	}
	if err != nil {
		return nil, fmt.Errorf("creating order: %w", err)
	}
	return o, nil
}

// Bounds of the search for an orphaned order: pages of the orders list
// read (CAs list oldest first, Pebble 3 to a page), and orders looked at,
// newest first.
const (
	maxOrderPages   = 50
	maxOrphanChecks = 20
)

// findOrphan looks for the order a killed run created but could not
// record: through the account's orders list (RFC 8555 §7.1.2.1), newest
// first, a pending or ready order for the same identifiers. Without an
// orders list at the CA, nil (a new order is made).
func (a *attempt) findOrphan(ctx context.Context, ids []string) *acme.Order {
	u := a.acct.File.Orders
	if u == "" {
		if _, data, err := a.sig.post(ctx, a.acct.File.URL, nil); err == nil {
			var v struct {
				Orders string `json:"orders"`
			}
			_ = json.Unmarshal(data, &v)
			u = v.Orders
		}
	}
	if u == "" {
		a.progress("An interrupted run may have left an order at the CA; the CA lists no orders for account %s, so a new one is created", a.acct.File.URL)
		return nil
	}
	var urls []string
	for page := 0; u != "" && page < maxOrderPages; page++ {
		res, data, err := a.sig.post(ctx, u, nil)
		if err != nil {
			a.r.log().Warnf("%s: listing the account's orders: %v", a.name, err)
			break
		}
		var v struct {
			Orders []string `json:"orders"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			a.r.log().Warnf("%s: the CA's orders list at %s is not valid JSON: %v", a.name, u, err)
			break
		}
		urls = append(urls, v.Orders...)
		if len(urls) > maxOrphanChecks {
			urls = urls[len(urls)-maxOrphanChecks:]
		}
		u = linkRel(res.Header, "next")
	}
	for i := len(urls) - 1; i >= 0; i-- {
		o, _, err := a.sig.getOrder(ctx, urls[i])
		if err != nil || (o.Status != acme.StatusPending && o.Status != acme.StatusReady) {
			continue
		}
		got := make([]string, len(o.Identifiers))
		for j, id := range o.Identifiers {
			got[j] = id.Value
		}
		if sameIdentifiers(got, ids) {
			a.resumed = true
			a.progress("Adopting order %s (status %s), created by an interrupted run that could not record it", o.URI, o.Status)
			return o
		}
	}
	a.progress("An interrupted run left no usable order at the CA; creating a new one")
	return nil
}

// sameIdentifiers compares identifier lists as sets, ignoring case.
func sameIdentifiers(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[strings.ToLower(x)]++
	}
	for _, x := range b {
		k := strings.ToLower(x)
		if seen[k] == 0 {
			return false
		}
		seen[k]--
	}
	return true
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// CSR builds the certificate request (spec §5.5): CN = the first DNS
// identifier when shorter than 64 characters, SANs = the identifiers (IP
// addresses as IP SANs, RFC 8738 §4; an address is never the CN), and the
// TLS Feature status_request extension for must-staple.
func CSR(ids []string, key crypto.Signer, mustStaple bool) ([]byte, error) {
	tmpl := &x509.CertificateRequest{}
	for _, id := range ids {
		if a, err := netip.ParseAddr(id); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
			continue
		}
		if len(tmpl.DNSNames) == 0 && len(id) < 64 {
			tmpl.Subject = pkix.Name{CommonName: id}
		}
		tmpl.DNSNames = append(tmpl.DNSNames, id)
	}
	if mustStaple {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: renew.OIDTLSFeature, Value: renew.MustStapleValue}}
	}
	return x509.CreateCertificateRequest(rand.Reader, tmpl, key)
}

// Verify checks an issued chain before it is staged, by the rule
// md-install applies before it makes the set live (renew.CheckChain).
func Verify(chain []*x509.Certificate, key crypto.Signer, domains []string, mustStaple bool, now time.Time) error {
	if e := renew.CheckChain(chain, key, domains, mustStaple, now); e != nil {
		return &Problem{Type: e.Problem, Detail: "the certificate from the CA " + e.Detail}
	}
	return nil
}
