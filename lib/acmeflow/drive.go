package acmeflow

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

var errNotExist = fs.ErrNotExist

// orderFile is mod_md's order.json (spec §2.5), plus the full challenge
// tasks so that teardown gets exactly what setup got.
type orderFile struct {
	URL             string           `json:"url"`
	Status          string           `json:"status,omitempty"`
	Authorizations  []string         `json:"authorizations,omitempty"`
	ChallengeSetups []string         `json:"challenge-setups,omitempty"`
	Finalize        string           `json:"finalize,omitempty"`
	Certificate     string           `json:"certificate,omitempty"`
	Spec            string           `json:"key-spec,omitempty"`
	Tasks           []challenge.Task `json:"tasks,omitempty"`
	// Intent is written before newOrder and replaced by the order once
	// the CA answers: finding it without a URL means a run died between
	// the two, leaving an order at the CA that the next run adopts.
	Intent *orderIntent `json:"mdtools-intent,omitempty"`
}

// orderIntent is an order being created.
type orderIntent struct {
	Identifiers []string `json:"identifiers"`
	At          md.Time  `json:"at"`
}

// attempt is the work on one MD in one run.
type attempt struct {
	r       *Runner
	rec     *md.Record
	name    string
	job     *md.Job
	now     time.Time
	caURL   string
	ca      *caEntry
	acct    *Account
	sig     *signer
	live    []renew.Cert
	viaARI  bool
	resumed bool
	types   []string // the challenge types to try, in order (Runner.challengeTypes)
}

func (a *attempt) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.job.AddLog(a.r.now(), "progress", "", msg)
	a.r.log().Infof("%s: %s", a.name, msg)
}

func (a *attempt) saveJob(ctx context.Context) {
	if err := a.r.Store.SaveJob(ctx, store.GroupStaging, a.name, a.job); err != nil {
		a.r.log().Warnf("%s: saving job: %v", a.name, err)
	}
}

// renew runs the renewal of one MD and records the outcome.
func (r *Runner) renew(ctx context.Context, rec *md.Record, job *md.Job, live []renew.Cert, d renew.Decision, now time.Time, types []string) {
	name := rec.Name
	res := rec.Order
	if err := r.notifier(rec).Raise(ctx, job, "renewing", name, now); err != nil && !isCommandFailure(err) {
		r.log().Warnf("%s: renewing event: %v", name, err)
	} else if err != nil {
		res.Action, res.Reason = ActionVetoed, "the renewing event command vetoed this run: "+err.Error()
		if err := r.Store.SaveJob(ctx, store.GroupStaging, name, job); err != nil {
			r.log().Warnf("%s: saving job: %v", name, err)
		}
		return
	}
	a := &attempt{r: r, rec: rec, name: name, job: job, now: now, live: live, viaARI: d.ViaARI, types: types}
	job.AddLog(now, "starting", "", "")
	for _, c := range live {
		if c.KeyMismatch {
			job.AddLog(now, "progress", renew.ProblemKeyMismatch, fmt.Sprintf(
				"the live %s certificate of %s does not match its private key; renewing", c.Spec.Name(), name))
		}
	}
	job.Finished, job.Notified, job.NotifiedRenewed = false, false, false
	job.LastRun = md.NewTime(now)
	urls := rec.EffectiveCAURLs()
	a.caURL = urls[renew.FailoverIndex(len(urls), job.Errors, failover(rec))]
	if d.ViaARI {
		a.progress("%s", d.Reason)
	}
	a.checkStaging(ctx, urls)
	a.saveJob(ctx)

	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	chains, err := a.drive(cctx)
	// Cleanup (teardown, events, the job) runs even when ctx was cancelled.
	cleanup, cancelCleanup := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancelCleanup()
	switch {
	case err != nil && ctx.Err() != nil:
		// Interrupted (SIGINT/SIGTERM): not the CA's fault. Like a kill,
		// the staged order stays for the next run to resume.
		a.progress("Interrupted: %v", ctx.Err())
		a.saveJob(ctx)
		res.Action, res.Reason = ActionFailed, "interrupted; the next run resumes the staged order"
		rec.Fail("order", fmt.Errorf("interrupted: %w", ctx.Err()))
	case err != nil:
		if cctx.Err() != nil {
			err = fmt.Errorf("%w (no answer from the CA within %s)", err, timeout)
		}
		a.fail(cleanup, err)
	default:
		a.finish(cleanup, chains)
	}
}

// isCommandFailure tells an event command's failure (a veto) from an
// event that could not be raised at all (logged, not a veto).
func isCommandFailure(err error) bool {
	var se *md.StageError
	return err != nil && errors.As(err, &se)
}

// checkStaging resets a staged attempt made for another CA or CA list
// (mod_md's acme_renew rule) or left half-done by a forced run.
func (a *attempt) checkStaging(ctx context.Context, urls []string) {
	st := a.r.Store
	sm, err := st.LoadMD(ctx, store.GroupStaging, a.name)
	if err != nil {
		if !errors.Is(err, errNotExist) {
			a.progress("Resetting staging for %s: %v", a.name, err)
			a.purgeStaging(context.Background(), false)
		}
		return
	}
	reset := sm.CA == nil || sm.CA.URL != a.caURL || strings.Join(sm.CA.URLs, " ") != strings.Join(urls, " ") ||
		strings.Join(sm.Domains, " ") != strings.Join(a.rec.Domains, " ")
	if !reset && a.r.Force && a.job.Errors == 0 && a.r.stagedCompleteFiles(ctx, a.name, a.rec.PrivKey.Effective()) {
		reset = true // --force on a finished set: order anew
	}
	if reset {
		a.progress("Resetting staging for %s", a.name)
		a.purgeStaging(context.Background(), true)
	} else {
		a.resumed = true
	}
}

func (r *Runner) stagedCompleteFiles(ctx context.Context, name string, specs md.KeySpecs) bool {
	for _, s := range specs {
		if !r.Store.Exists(ctx, store.GroupStaging, name, s.FileName("pubcert")) {
			return false
		}
	}
	return true
}

// purgeStaging tears down an order in flight and removes staged files,
// keeping job.json (the job log and backoff) and a staged account (a
// registered account is worth keeping).
func (a *attempt) purgeStaging(ctx context.Context, keepAccount bool) {
	st := a.r.Store
	var of orderFile
	if err := st.LoadJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &of); err == nil {
		a.teardown(ctx, of.Tasks)
	}
	files, err := st.ListFiles(ctx, store.GroupStaging, a.name)
	if err != nil {
		return
	}
	for _, f := range files {
		if f == store.FileJob || keepAccount && (f == store.FileAccount || f == store.FileAccountKey) {
			continue
		}
		if err := st.Remove(ctx, store.GroupStaging, a.name, f); err != nil {
			a.r.log().Warnf("%s: removing staging/%s/%s: %v", a.name, a.name, f, err)
		}
	}
}

func (a *attempt) teardown(ctx context.Context, tasks []challenge.Task) {
	if a.r.Challenges == nil {
		return
	}
	for _, t := range tasks {
		if err := a.r.Challenges.Teardown(ctx, a.rec, t); err != nil {
			a.r.log().Warnf("%s: tearing down %s for %s: %v", a.name, t.Type, t.Domain, err)
		}
	}
}

// drive talks to the CA: account, then one order per key spec.
func (a *attempt) drive(ctx context.Context) ([]([]*x509.Certificate), error) {
	a.progress("Contacting ACME server for %s at %s", a.name, a.caURL)
	if err := a.connect(ctx); err != nil {
		return nil, err
	}
	if err := a.stageMD(ctx); err != nil {
		return nil, err
	}
	specs := a.rec.PrivKey.Effective()
	chains := make([][]*x509.Certificate, len(specs))
	for i, spec := range specs {
		if chain := a.stagedChain(ctx, spec); chain != nil {
			chains[i] = chain
			continue
		}
		a.progress("Driving ACME to renew %s certificate for %s", spec.Name(), a.name)
		chain, err := a.orderSpec(ctx, spec, a.live[i].Leaf)
		if err != nil {
			return nil, fmt.Errorf("%s certificate: %w", spec.Name(), err)
		}
		chains[i] = chain
	}
	return chains, nil
}

// stagedChain returns a certificate staged by an earlier, interrupted run
// when it still verifies against its staged key.
func (a *attempt) stagedChain(ctx context.Context, spec md.KeySpec) []*x509.Certificate {
	st := a.r.Store
	chain, err := st.LoadChain(ctx, store.GroupStaging, a.name, spec.FileName("pubcert"))
	if err != nil {
		return nil
	}
	key, err := st.LoadKey(ctx, store.GroupStaging, a.name, spec.FileName("privkey"))
	if err != nil {
		return nil
	}
	if err := Verify(chain, key, a.rec.Domains, a.rec.MustStaple, a.r.now()); err != nil {
		return nil
	}
	a.resumed = true
	return chain
}

// stageMD writes staging/<md>/md.json: the MD with the effective CA.
func (a *attempt) stageMD(ctx context.Context) error {
	m := a.rec.MD
	ca := md.CA{}
	if m.CA != nil {
		ca = *m.CA
	}
	ca.URL = a.caURL
	if len(ca.URLs) == 0 {
		ca.URLs = a.rec.EffectiveCAURLs()
	}
	if ca.Proto == "" {
		ca.Proto = md.ProtoACME
	}
	ca.Account = a.acct.ID
	m.CA = &ca
	if err := a.r.Store.SaveMD(ctx, store.GroupStaging, &m); err != nil {
		return fmt.Errorf("staging md.json: %w", err)
	}
	if a.acct.ID == "" {
		if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileAccount, &a.acct.File); err != nil {
			return err
		}
		if err := a.r.Store.SaveKey(ctx, store.GroupStaging, a.name, store.FileAccountKey, a.acct.Key); err != nil {
			return err
		}
	}
	return nil
}

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
		return "", &Problem{Type: "urn:ietf:params:acme:error:invalidProfile", Detail: fmt.Sprintf(
			"the CA does not offer profile %q (it offers: %s) and MDProfileMandatory is on", rec.Profile, strings.Join(names, ", "))}
	}
	return "", nil
}

// orderSpec obtains the certificate for one key spec, resuming a staged
// order when there is one.
func (a *attempt) orderSpec(ctx context.Context, spec md.KeySpec, liveLeaf *x509.Certificate) ([]*x509.Certificate, error) {
	st := a.r.Store
	var of orderFile
	var o *acme.Order
	if err := st.LoadJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &of); err == nil && of.URL != "" && (of.Spec == "" || of.Spec == spec.Name()) {
		got, _, err := a.sig.getOrder(ctx, of.URL)
		switch {
		case err != nil:
			a.progress("Staged order %s is not usable (%v), creating a new one", of.URL, err)
		case got.Status == acme.StatusInvalid:
			a.progress("Staged order %s is invalid, creating a new one", of.URL)
		default:
			o = got
			a.resumed = true
			a.progress("Resuming staged order %s (status %s)", of.URL, o.Status)
		}
		if o == nil {
			a.teardown(ctx, of.Tasks)
			_ = st.Remove(ctx, store.GroupStaging, a.name, store.FileOrder)
			of = orderFile{}
		}
	}
	ids := md.MinimalDomains(a.rec.Domains)
	if o == nil {
		profile, err := pickProfile(a.rec, a.ca.dir)
		if err != nil {
			return nil, err
		}
		if a.rec.Profile != "" && profile == "" {
			a.r.log().Warnf("%s: the CA does not offer profile %q; ordering without a profile", a.name, a.rec.Profile)
		}
		if of.URL == "" && of.Intent != nil && sameIdentifiers(of.Intent.Identifiers, ids) {
			o = a.findOrphan(ctx, ids)
		}
		if o == nil {
			if o, err = a.createOrder(ctx, spec, ids, profile, liveLeaf); err != nil {
				return nil, err
			}
		}
		of = orderFile{URL: o.URI, Status: o.Status, Authorizations: o.AuthzURLs, Finalize: o.FinalizeURL, Spec: spec.Name()}
		if err := st.SaveJSON(ctx, store.GroupStaging, a.name, store.FileOrder, &of); err != nil {
			return nil, err
		}
	}
	// The new key is made while the CA validates.
	type keyResult struct {
		key crypto.Signer
		err error
	}
	keyc := make(chan keyResult, 1)
	key, err := st.LoadKey(ctx, store.GroupStaging, a.name, spec.FileName("privkey"))
	if err == nil {
		keyc <- keyResult{key: key}
	} else {
		go func() {
			k, err := md.GenerateKey(spec)
			keyc <- keyResult{k, err}
		}()
	}
	if o.Status == acme.StatusPending {
		pending, err := a.authorize(ctx, o, &of)
		if err != nil {
			return nil, err
		}
		a.progress("Waiting for order to become ready")
		ready, err := a.sig.waitOrder(ctx, o.URI, 30*time.Millisecond, acme.StatusReady, acme.StatusProcessing, acme.StatusValid)
		if err != nil {
			return nil, a.authzFailure(ctx, pending, fmt.Errorf("waiting for the order: %w", err))
		}
		o = ready
		a.progress("Monitoring challenge status for %s: order is %s, all domain authorizations are valid", a.name, o.Status)
	}
	kr := <-keyc
	if kr.err != nil {
		return nil, kr.err
	}
	if key == nil {
		key = kr.key
		if err := st.SaveKey(ctx, store.GroupStaging, a.name, spec.FileName("privkey"), key); err != nil {
			return nil, err
		}
	}
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
	a.progress("Retrieving %s certificate chain for %s", spec.Name(), a.name)
	chain, err := a.sig.fetchChain(ctx, o.CertURL)
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

// authorize answers the pending authorizations of an order (spec §5.1):
// per authorization the first candidate type the CA offers whose setup
// succeeds.
func (a *attempt) authorize(ctx context.Context, o *acme.Order, of *orderFile) ([]string, error) {
	types := a.types
	if a.r.Challenges == nil {
		return nil, errors.New("no challenge responder configured")
	}
	thumb, err := acme.JWKThumbprint(a.acct.Key.Public())
	if err != nil {
		return nil, err
	}
	var zs []*authz
	for _, u := range o.AuthzURLs {
		z, _, err := a.sig.getAuthz(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("getting authorization: %w", err)
		}
		zs = append(zs, z)
	}
	// In the MD's domain order (CAs list authorizations in any order), so
	// that challenge-setup events come as mod_md raises them.
	pos := func(z *authz) int {
		for i, d := range a.rec.Domains {
			if strings.EqualFold(strings.TrimPrefix(d, "*."), z.Identifier.Value) && md.IsWildcard(d) == z.Wildcard {
				return i
			}
		}
		return len(a.rec.Domains)
	}
	sort.SliceStable(zs, func(i, j int) bool { return pos(zs[i]) < pos(zs[j]) })
	var pending []string
	for _, z := range zs {
		u := z.URL
		if z.Status == acme.StatusValid {
			continue
		}
		if z.Status != acme.StatusPending {
			return nil, authzError(z)
		}
		if err := a.setupOne(ctx, z, types, thumb, of); err != nil {
			return nil, err
		}
		pending = append(pending, u)
	}
	return pending, nil
}

// authzFailure explains a failed order by the first failed authorization
// among pending (the order's own problem says less), else returns err.
func (a *attempt) authzFailure(ctx context.Context, pending []string, err error) error {
	for _, u := range pending {
		z, _, gerr := a.sig.getAuthz(ctx, u)
		if gerr == nil && z.Status != acme.StatusValid && z.Status != acme.StatusPending {
			return authzError(z)
		}
	}
	return err
}

func (a *attempt) setupOne(ctx context.Context, z *authz, types []string, thumb string, of *orderFile) error {
	offers := make([]challenge.Offer, len(z.Challenges))
	for i, c := range z.Challenges {
		if c.Status == acme.StatusValid {
			return nil
		}
		offers[i] = challenge.Offer{Type: c.Type, Token: c.Token}
	}
	ev := &announcer{a: a}
	t, idx, err := challenge.Respond(ctx, ev, a.rec, z.Identifier.Value, types, offers,
		func(token string) (string, error) { return token + "." + thumb, nil })
	if err != nil {
		return err
	}
	of.Tasks = append(of.Tasks, t)
	setup := t.Type + ":" + t.Domain
	if t.Type == challenge.DNS01 {
		setup += " " + challenge.DNS01Value(t.KeyAuth)
	}
	of.ChallengeSetups = append(of.ChallengeSetups, setup)
	if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileOrder, of); err != nil {
		return err
	}
	if err := a.sig.accept(ctx, z.Challenges[idx].URL); err != nil {
		return fmt.Errorf("answering the %s challenge for %s: %w", t.Type, t.Domain, err)
	}
	return nil
}

// announcer sets a challenge up through the runner's responder, then
// raises mod_md's "challenge-setup:<type>:<dns>" event; a failing event
// command fails that setup (mod_md then tries the next type).
type announcer struct{ a *attempt }

func (n *announcer) Setup(ctx context.Context, rec *md.Record, t challenge.Task) error {
	a := n.a
	a.progress("Setting up challenge '%s' for domain %s", t.Type, t.Domain)
	if err := a.r.Challenges.Setup(ctx, rec, t); err != nil {
		return err
	}
	if err := a.r.notifier(rec).Raise(ctx, a.job, "challenge-setup:"+t.Type+":"+t.Domain, a.name, a.r.now()); err != nil {
		_ = a.r.Challenges.Teardown(ctx, rec, t)
		return fmt.Errorf("challenge-setup event: %w", err)
	}
	return nil
}

func (n *announcer) Teardown(ctx context.Context, rec *md.Record, t challenge.Task) error {
	return n.a.r.Challenges.Teardown(ctx, rec, t)
}

// finish records success: the staged set is complete.
func (a *attempt) finish(ctx context.Context, chains [][]*x509.Certificate) {
	now := a.r.now()
	specs := a.rec.PrivKey.Effective()
	res := a.rec.Order
	res.CA = a.caURL
	res.Action = ActionOrdered
	if a.resumed {
		res.Action = ActionResumed
	}
	var nb time.Time
	res.Certs = nil
	for i, c := range chains {
		res.Certs = append(res.Certs, renew.CertInfo(specs[i], c[0]))
		if c[0].NotBefore.After(nb) {
			nb = c[0].NotBefore
		}
	}
	wasComplete, _ := renew.State(&a.rec.MD, a.live)
	var oldEnd time.Time
	for _, l := range a.live {
		if l.Leaf != nil && (oldEnd.IsZero() || l.Leaf.NotAfter.Before(oldEnd)) {
			oldEnd = l.Leaf.NotAfter
		}
	}
	ready := renew.ReadyAt(now, nb, wasComplete == md.StateComplete, oldEnd, activationDelay(a.rec))
	j := a.job
	j.Finished = true
	j.Errors = 0
	j.ValidFrom = md.NewTime(ready)
	j.Last = &md.JobResult{Status: 0, ValidFrom: md.NewTime(ready)}
	j.NextRun = md.Time{}
	if ready.After(now) {
		j.NextRun = md.NewTime(ready)
		a.progress("The certificate for the managed domain has been renewed successfully and can be used from %s on.", ready.UTC().Format(http.TimeFormat))
	} else {
		a.progress("The certificate for the managed domain has been renewed successfully and can be used (valid since %s). A graceful server restart now is recommended.", nb.UTC().Format(http.TimeFormat))
	}
	j.AddLog(now, "finished", "", "")
	res.Reason += "; new certificates staged for md-install"
	a.r.seedARI(ctx, a.rec, chains, now)
	if !ready.After(now) {
		a.r.notifyRenewed(ctx, a.rec, j, now)
	}
	a.saveJob(ctx)
}

// fail records a failed attempt (spec §3.6): the problem in the record
// and the job, errors++, next-run by backoff, partial results removed.
func (a *attempt) fail(ctx context.Context, err error) {
	now := a.r.now()
	se := StageError(err, now)
	if capped, ok := renew.CapRetryAfter(now, se.RetryAfter.Time); ok {
		se.Detail += fmt.Sprintf(" (the CA asked to wait until %s; capped at %s, the longest wait md-order accepts)",
			se.RetryAfter.UTC().Format(http.TimeFormat), capped.UTC().Format(http.TimeFormat))
		se.RetryAfter = md.NewTime(capped)
	}
	a.purgeStaging(ctx, true)
	j := a.job
	j.Errors++
	j.Finished = false
	j.Last = &md.JobResult{Status: 1, StatusDescription: "error", Problem: se.Problem, Detail: se.Detail, Subproblems: se.Subproblems}
	next := renew.NextRun(now, retryDelay(a.rec), j.Errors, se.Problem, se.RetryAfter.Time, a.r.randByte())
	j.NextRun = md.NewTime(next)
	j.AddLog(now, "renewal-error", se.Problem, se.Detail)
	_ = a.r.notifier(a.rec).Raise(ctx, j, "errored", a.name, now)
	a.saveJob(ctx)
	res := a.rec.Order
	res.Action = ActionFailed
	res.CA = a.caURL
	res.Reason = fmt.Sprintf("attempt %d failed; next attempt not before %s", j.Errors, next.UTC().Format(http.TimeFormat))
	res.Errors, res.FailingSince, res.NextRun = j.Errors, failingSince(j), j.NextRun
	a.rec.Error = se
	a.r.log().Infof("%s: %v", a.name, err)
}

// CSR builds the certificate request (spec §5.5): CN = the first
// identifier when shorter than 64 characters, SANs = the identifiers, and
// the TLS Feature status_request extension for must-staple.
func CSR(ids []string, key crypto.Signer, mustStaple bool) ([]byte, error) {
	tmpl := &x509.CertificateRequest{DNSNames: ids}
	if len(ids) > 0 && len(ids[0]) < 64 {
		tmpl.Subject = pkix.Name{CommonName: ids[0]}
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
