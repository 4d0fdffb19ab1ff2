package acmeflow

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// httpOptions are the connection settings of a record for one CA: the MD's
// own MDHttpProxy / MDHttpProxyCACertificateFile / MDCACertificateFile,
// else the global ones from the
// record's settings (md-parse puts a global value only there, as mod_md
// keeps it in the server config).
func (r *Runner) httpOptions(rec *md.Record) HTTPOptions {
	proxy, caCerts, proxyCA := rec.ProxyURL, rec.CACerts, rec.ProxyCACerts
	if s := rec.Settings; s != nil {
		if proxy == "" {
			proxy = s.HTTPProxy
		}
		if caCerts == "" {
			caCerts = s.CACerts
		}
		if proxyCA == "" {
			proxyCA = s.ProxyCACerts
		}
	}
	o := HTTPOptions{ProxyURL: proxy, ProxyCAFile: proxyCA, CAFiles: append([]string{}, r.CAFiles...)}
	if caCerts != "" && caCerts != "none" {
		o.CAFiles = append(o.CAFiles, caCerts)
	}
	return o
}

// caFor returns the shared client and directory of a CA for a record's
// HTTP settings, discovering the directory once per run.
func (r *Runner) caFor(ctx context.Context, rec *md.Record, caURL string) (*caEntry, error) {
	o := r.httpOptions(rec)
	key := caURL + "\x00" + o.ProxyURL + "\x00" + o.ProxyCAFile + "\x00" + strings.Join(o.CAFiles, "\x00")
	r.mu.Lock()
	if r.cas == nil {
		r.cas = map[string]*caEntry{}
	}
	e := r.cas[key]
	if e == nil {
		e = &caEntry{}
		r.cas[key] = e
	}
	r.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dir != nil {
		return e, nil
	}
	if e.hc == nil {
		hc, err := HTTPClient(o)
		if err != nil {
			return nil, err
		}
		e.hc = hc
	}
	if e.dirErr != nil && time.Now().Before(e.dirUntil) {
		return nil, &dirKnownDown{e.dirErr}
	}
	dir, err := Discover(ctx, e.hc, caURL, r.ua())
	if err != nil {
		if ctx.Err() != context.Canceled { // an interrupt says nothing of the CA
			until := time.Now().Add(dirRetry)
			e.dirErr = fmt.Errorf("%w (the directory is not asked again before %s)", err, until.UTC().Format("15:04:05 MST"))
			e.dirUntil = until
			return nil, e.dirErr
		}
		return nil, err
	}
	e.dir, e.dirErr = dir, nil
	return e, nil
}

// eabFor returns the MD's EAB with its real HMAC: the record shows it as
// "***", so it is read from domains/<md>/md.json, where md-parse synced it.
func (r *Runner) eabFor(ctx context.Context, rec *md.Record) (*md.EAB, error) {
	if rec.EAB == nil || rec.EAB.KID == "" {
		return nil, nil
	}
	e := *rec.EAB
	if e.HMAC == md.RedactedSecret || e.HMAC == "" {
		m, err := r.Store.LoadMD(ctx, store.GroupDomains, rec.Name)
		if err != nil || m.EAB == nil || m.EAB.KID != e.KID || m.EAB.HMAC == "" || m.EAB.HMAC == md.RedactedSecret {
			return nil, &Problem{Type: ProblemEABInvalid, Detail: fmt.Sprintf(
				"the external account binding HMAC for kid %q is not in domains/%s/md.json (run md-parse to sync the configuration into the store)", e.KID, rec.Name)}
		}
		e.HMAC = m.EAB.HMAC
	}
	return &e, nil
}

// connect sets up the CA, the account and the signer for an attempt.
//
// Each MD uses its own account, found by mod_md's rules (its staged
// account, its ca.account, then the first usable one), as mod_md does: an
// ARI "replaces" is accepted only from the account that ordered the
// certificate. MDs of one run that resolve to the same account share it
// (validated once); MDs that need a new one share one registration.
func (a *attempt) connect(ctx context.Context) error {
	r := a.r
	ca, err := r.caFor(ctx, a.rec, a.caURL)
	if err != nil {
		return err
	}
	a.ca = ca
	eab, err := r.eabFor(ctx, a.rec)
	if err != nil {
		return err
	}
	stored := ownAccount(ctx, r.Store, &a.rec.MD, a.caURL, eab, &r.stored)
	if stored == nil {
		if stored, err = r.stored.sharedFor(ctx, r.Store, a.name, a.caURL, eab); err != nil {
			return err
		}
	}
	akey := "new\x00" + ca.dir.URL + "\x00" + cacheKey(a.caURL, eab)
	if stored != nil {
		akey = "account\x00" + stored.File.URL
	}
	r.mu.Lock()
	if r.accts == nil {
		r.accts = map[string]*acctEntry{}
	}
	e := r.accts[akey]
	if e == nil {
		e = &acctEntry{}
		r.accts[akey] = e
	}
	r.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.acct == nil {
		a.progress("Selecting account to use for %s", a.name)
		acct, sig, err := a.chooseAccount(ctx, eab, stored)
		if err != nil {
			return err
		}
		a.syncContacts(ctx, acct, sig)
		e.acct, e.sig = acct, sig
	}
	a.acct, a.sig = e.acct, e.sig
	return nil
}

func (a *attempt) newSigner(acct *Account) *signer {
	return &signer{hc: a.ca.hc, key: acct.Key, kid: acct.File.URL, nonceURL: a.ca.dir.NewNonce, ua: a.r.ua(), now: a.r.now}
}

// validate asks the CA whether it still knows an account (mod_md:
// POST-as-GET to the account URL). ok is false when the CA rejects it.
func (a *attempt) validate(ctx context.Context, acct *Account) (sig *signer, ok bool, err error) {
	sig = a.newSigner(acct)
	_, _, err = sig.post(ctx, acct.File.URL, nil)
	if err == nil {
		return sig, true, nil
	}
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.StatusCode < 400 || ae.StatusCode >= 500 {
		return nil, false, fmt.Errorf("validating account %s: %w", acct.File.URL, err)
	}
	a.r.log().Warnf("%s: account %s was rejected by the CA (%v)", a.name, acct.File.URL, err)
	return nil, false, nil
}

// accountLock serialises registrations between runs on one store: its
// name cannot be an MD's (no "_" in DNS names).
const accountLock = "_accounts"

// accountLockWait bounds the wait for another run's registration (one
// request to the CA), whatever --wait says about the MDs' locks.
const accountLockWait = 2 * time.Minute

// chooseAccount reuses the stored account when the CA still knows it, or
// registers a new one. Registration happens under the store's account
// lock, after looking again: concurrent first runs on a fresh store must
// end up with one account, not one each. The new account is staged at
// once (staging/<md>/account.json), where the next run's look finds it.
func (a *attempt) chooseAccount(ctx context.Context, eab *md.EAB, stored *Account) (*Account, *signer, error) {
	rejected := ""
	if stored != nil {
		sig, ok, err := a.validate(ctx, stored)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			return stored, sig, nil
		}
		if acct, sig := a.recoverRollover(ctx, stored); acct != nil {
			return acct, sig, nil
		}
		rejected = stored.File.URL
	}
	unlock, err := a.r.Store.Lock(ctx, accountLock, accountLockWait)
	if err != nil {
		return nil, nil, fmt.Errorf("taking the account lock: %w", err)
	}
	defer unlock()
	again, err := findStoredAccount(ctx, a.r.Store, &a.rec.MD, a.caURL, eab)
	if err != nil {
		return nil, nil, err
	}
	if again != nil && again.File.URL != rejected {
		sig, ok, err := a.validate(ctx, again)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			a.progress("Using account %s, registered by another run meanwhile", again.File.URL)
			return again, sig, nil
		}
	}
	a.progress("Creating new ACME account for %s", a.name)
	c := &acme.Client{DirectoryURL: a.caURL, HTTPClient: a.ca.hc, UserAgent: a.r.ua(), RetryBackoff: retryPolicy(a.r.now)}
	acct, err := register(ctx, c, a.ca.dir, &a.rec.MD, eab, a.r.AccountKey)
	if err != nil {
		return nil, nil, err
	}
	if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileAccount, &acct.File); err != nil {
		return nil, nil, err
	}
	if err := a.r.Store.SaveKey(ctx, store.GroupStaging, a.name, store.FileAccountKey, acct.Key); err != nil {
		return nil, nil, err
	}
	return acct, a.newSigner(acct), nil
}

// ARI cache: root file ari-<md>.json keeps each certificate's last answer
// until its Retry-After, so that a run with nothing due sends nothing.
type ariCache struct {
	Entries map[string]ariEntry `json:"entries"`
}

type ariEntry struct {
	Start       md.Time `json:"start,omitzero"`
	End         md.Time `json:"end,omitzero"`
	Explanation string  `json:"explanation-url,omitempty"`
	RetryAfter  md.Time `json:"retry-after"`
}

func ariFile(name string) string { return store.ARIFile(name) }

// ariApplies: ARI is on, no static files, and every cert is there.
func (r *Runner) ariApplies(rec *md.Record, live []renew.Cert) bool {
	if !rec.ARIRenewals || len(rec.CertFiles) > 0 {
		return false
	}
	for _, c := range live {
		if c.Leaf == nil {
			return false
		}
	}
	return len(live) > 0
}

// ariWindow returns the earliest ARI window of the live certificates,
// asking the first CA only for those whose cached answer is stale (never
// in a dry run), and when the next of them goes stale (now if one has no
// answer at all).
func (r *Runner) ariWindow(ctx context.Context, rec *md.Record, live []renew.Cert, now time.Time) (*renew.Window, time.Time) {
	var cache ariCache
	_ = r.Store.LoadJSON(ctx, store.GroupRoot, "", ariFile(rec.Name), &cache)
	if cache.Entries == nil {
		cache.Entries = map[string]ariEntry{}
	}
	changed := false
	var best *renew.Window
	var ca *caEntry // the first CA, reached at most once
	for _, c := range live {
		id, err := CertID(c.Leaf)
		if err != nil {
			continue
		}
		e, ok := cache.Entries[id]
		if (!ok || !now.Before(e.RetryAfter.Time)) && !r.DryRun { // as ariStale
			fresh, answered := r.fetchARI(ctx, rec, &ca, id, now)
			if !answered && ok {
				// the last window the CA suggested still stands (it
				// moves earlier in an incident, when the endpoint is
				// busiest); only a new answer replaces it
				fresh.Start, fresh.End, fresh.Explanation = e.Start, e.End, e.Explanation
			}
			if answered && (!ok || e.Start.IsZero()) {
				ra := fresh.RetryAfter.Sub(now)
				fresh.RetryAfter = md.NewTime(fresh.RetryAfter.Add(FirstARISpread(rec.Name, id, ra)))
			}
			e, ok, changed = fresh, true, true
			cache.Entries[id] = e
		}
		if !ok || e.Start.IsZero() {
			continue // no answer (yet): the renew window alone decides
		}
		w := &renew.Window{Start: e.Start.Time, End: e.End.Time, ExplanationURL: e.Explanation}
		if best == nil || w.Start.Before(best.Start) {
			best = w
		}
	}
	if changed {
		for id, e := range cache.Entries {
			keep := now.Before(e.RetryAfter.Time) // e.g. seeded for a staged cert
			for _, c := range live {
				if cid, _ := CertID(c.Leaf); cid == id {
					keep = true
				}
			}
			if !keep {
				delete(cache.Entries, id)
			}
		}
		if err := r.Store.SaveJSON(ctx, store.GroupRoot, "", ariFile(rec.Name), &cache); err != nil {
			r.log().Warnf("%s: saving ARI answer: %v", rec.Name, err)
		}
	}
	return best, ariStale(cache, live, now)
}

// FirstARISpread is how much later than the CA's Retry-After (ra) the
// second query about a certificate comes: a point in [0, ra) fixed by
// the MD and the certificate. Certificates asked about together the
// first time (a store taken over from another client, a batch issued in
// one run: each queried 6 hours on) would otherwise be asked together
// for good, all in every sixth hourly run: 100,000 queries in one run
// (400 s at ariRate) and none in the five between. Later answers keep
// the CA's Retry-After, so the spread stays and costs one interval once.
func FirstARISpread(name, id string, ra time.Duration) time.Duration {
	if ra < time.Second {
		return 0
	}
	sum := sha256.Sum256([]byte(name + "\x00" + id))
	return time.Duration(binary.BigEndian.Uint64(sum[:8])%uint64(ra/time.Second)) * time.Second
}

// ARIRetryFailed is when an MD asks again about a certificate after its
// renewalInfo query failed (the CA or its renewalInfo down, or an error
// about the certificate): an hour on, plus a point in the 5 hours after
// fixed by the MD and the certificate. At one hour for all, every hourly
// run of an outage worked on every MD again (100,000 MDs: each run about
// 30 s of slow paths and 100,000 ARI files written); spread, each works on
// about a fifth, and none waits longer than the 6 hours a CA's Retry-After
// gives anyway.
func ARIRetryFailed(name, id string) time.Duration {
	return time.Hour + FirstARISpread(name, id, 5*time.Hour)
}

// ariStale is when the first cached ARI answer of the live certificates
// goes stale; now when one has none.
func ariStale(cache ariCache, live []renew.Cert, now time.Time) time.Time {
	var next time.Time
	for _, c := range live {
		id, err := CertID(c.Leaf)
		e, ok := cache.Entries[id]
		if err != nil || !ok || !e.RetryAfter.After(now) {
			return now
		}
		if next.IsZero() || e.RetryAfter.Before(next) {
			next = e.RetryAfter.Time
		}
	}
	return next
}

// ariFirstQuery is how long after issuance md-order first asks the CA's
// ARI endpoint about a new certificate. A fresh certificate's window lies
// far in the future, so asking at once would only cost a request in the
// run right after the order, which should make none.
const ariFirstQuery = 6 * time.Hour

// seedARI records, for certificates just issued, that ARI need not be
// asked before ariFirstQuery has passed.
func (r *Runner) seedARI(ctx context.Context, rec *md.Record, chains [][]*x509.Certificate, now time.Time) {
	if r.DryRun || !rec.ARIRenewals {
		return
	}
	leaves := make([]*x509.Certificate, 0, len(chains))
	for _, c := range chains {
		leaves = append(leaves, c[0])
	}
	if err := SeedARI(ctx, r.Store, rec.Name, leaves, now); err != nil {
		r.log().Warnf("%s: saving ARI cache: %v", rec.Name, err)
	}
}

// SeedARI writes into the MD's ARI cache (ari-<md>.json) what md-order
// writes when it has just issued leaves: ask about them no sooner than
// ariFirstQuery (6 hours) after now. testdata/benchscale seeds the stores
// it prepares with it, as a finished md-order would.
func SeedARI(ctx context.Context, st *store.Store, name string, leaves []*x509.Certificate, now time.Time) error {
	var cache ariCache
	_ = st.LoadJSON(ctx, store.GroupRoot, "", ariFile(name), &cache)
	if cache.Entries == nil {
		cache.Entries = map[string]ariEntry{}
	}
	for _, leaf := range leaves {
		if id, err := CertID(leaf); err == nil {
			cache.Entries[id] = ariEntry{RetryAfter: md.NewTime(now.Add(ariFirstQuery))}
		}
	}
	return st.SaveJSON(ctx, store.GroupRoot, "", ariFile(name), &cache)
}

// fetchARI asks the first CA for a certificate's renewal info, and says
// whether the CA answered with a window. A CA that cannot be reached, or
// has no renewalInfo, is remembered too (an entry without window), so that
// it is asked again only after ARIRetryFailed (a day). A renewalInfo
// endpoint that is down (ariEndpointDown) is not asked again in this run
// for ariRetry (caEntry.ariPaused): a hung endpoint cost each MD its
// timeout.
func (r *Runner) fetchARI(ctx context.Context, rec *md.Record, ca **caEntry, id string, now time.Time) (ariEntry, bool) {
	failed := ariEntry{RetryAfter: md.NewTime(now.Add(ARIRetryFailed(rec.Name, id)))}
	if *ca == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := r.caFor(cctx, rec, rec.EffectiveCAURLs()[0])
		cancel()
		if err != nil {
			r.warnARIDirectory(rec.Name, err)
			return failed, false
		}
		*ca = c
	}
	if (*ca).dir.RenewalInfo == "" {
		return ariEntry{RetryAfter: md.NewTime(now.Add(24 * time.Hour))}, false
	}
	var info *ARIInfo
	var err error
	var wait, pause time.Duration // the CA's Retry-After; this MD paused renewalInfo
	paused := false
	r.aside(func() {
		// checked once the turn has come, and again after the pace wait
		// (a paused renewalInfo costs no pace turns)
		if paused = (*ca).ariPaused(); paused {
			return
		}
		if err = (*ca).ariPace(ctx); err != nil {
			return
		}
		if paused = (*ca).ariPaused(); paused {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, r.ariTimeout())
		info, err = FetchARI(cctx, (*ca).hc, (*ca).dir.RenewalInfo, id, r.ua(), now)
		cancel()
		if err != nil && ctx.Err() == nil && ariEndpointDown(err) {
			// paused before the turn is passed on, so that no request
			// waiting for it goes out
			wait = downRetryAfter(err, now)
			if d := min(max(ariRetry, wait), time.Hour); (*ca).pauseARI(d, now.Add(wait)) {
				pause = d
			}
		}
	})
	if paused {
		failed.RetryAfter = md.NewTime(later(failed.RetryAfter.Time, (*ca).ariAgainAt()))
		return failed, false
	}
	if err != nil {
		failed.RetryAfter = md.NewTime(later(failed.RetryAfter.Time, now.Add(wait)))
		if pause > 0 {
			r.log().Warnf("%s: ARI for %s: %v; the CA's renewalInfo is not asked again for %s in this run, the renew windows (and ARI windows it gave before) decide meanwhile",
				rec.Name, id, err, pause)
		} else {
			r.log().Warnf("%s: ARI for %s: %v", rec.Name, id, err)
		}
		return failed, false
	}
	return ariEntry{Start: md.NewTime(info.Window.Start), End: md.NewTime(info.Window.End),
		Explanation: info.Window.ExplanationURL, RetryAfter: md.NewTime(info.RetryAfter)}, true
}

// dirKnownDown is the error of a CA directory that this run failed to
// fetch moments ago (caFor, dirRetry): the MD did not ask it itself.
type dirKnownDown struct{ err error }

func (d *dirKnownDown) Error() string { return d.err.Error() }
func (d *dirKnownDown) Unwrap() error { return d.err }

// warnARIDirectory tells that an MD could not ask for renewalInfo because
// its CA's directory cannot be fetched. The MD whose request found it down
// warns; the others, which the run did not let ask, say so with -v only:
// a CA that is down during a run over 100,000 MDs wrote 100,000 warnings.
func (r *Runner) warnARIDirectory(name string, err error) {
	var known *dirKnownDown
	if errors.As(err, &known) {
		r.log().Infof("%s: ARI: %v", name, err)
		return
	}
	r.log().Warnf("%s: ARI: %v; the other MDs of this CA do not ask for renewalInfo meanwhile (-v lists them), the renew windows (and ARI windows it gave before) decide", name, err)
}

// ariRetry is how long a renewalInfo endpoint that is down
// (ariEndpointDown) is not asked again in a run, unless its answer asks
// for longer with a Retry-After (up to an hour).
const ariRetry = time.Minute

// downRetryAfter is the Retry-After of a renewalInfo error answer (a 503
// or 429 of a CA under load or over its per-IP limit), at most a day; 0
// when it gives none.
func downRetryAfter(err error, now time.Time) time.Duration {
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.Header == nil {
		return 0
	}
	return min(max(parseRetryAfter(ae.Header.Get("Retry-After"), now), 0), 24*time.Hour)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ariTimeout bounds one renewalInfo request: 30 s, or a tenth of the
// time an MD may take (--timeout), whichever is less. ARI only advises;
// it must not eat the MD's time.
func (r *Runner) ariTimeout() time.Duration {
	if r.Timeout > 0 && r.Timeout/10 < 30*time.Second {
		return r.Timeout / 10
	}
	return 30 * time.Second
}

// ariEndpointDown: the renewalInfo request got no answer, an answer that
// says the service is down or overloaded, or one that is not renewalInfo
// at all; not an error status about this certificate (404 for a
// certificate the CA does not know, say).
func ariEndpointDown(err error) bool {
	var ae *acme.Error
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests
	}
	return !errors.Is(err, context.Canceled)
}

// ariRate bounds the renewalInfo requests a run sends one CA per second
// (4 ms apart: 17,000 in 68 s). --ari-jobs answers waited for at once
// would otherwise send as many as the round trip allows (32 at 10 ms:
// 3,200 a second), and Let's Encrypt's load balancers answer 503 to an
// address over its per-IP limit (boulder issue 8717), which would pause
// ARI for the run.
const ariRate = 250

// ariPace waits for the request's turn: requests to one CA start at
// least 1/ariRate apart.
func (e *caEntry) ariPace(ctx context.Context) error {
	e.ariMu.Lock()
	now := time.Now()
	at := e.ariNext
	if at.Before(now) {
		at = now
	}
	e.ariNext = at.Add(time.Second / ariRate)
	e.ariMu.Unlock()
	if d := at.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ariPaused reports whether the CA's renewalInfo is paused (pauseARI).
func (e *caEntry) ariPaused() bool {
	return time.Now().UnixNano() < e.ariUntil.Load()
}

// pauseARI pauses the CA's renewalInfo for d, reporting whether it was
// not paused already (so that one MD tells the operator); again is when
// the CA asked to be asked again (its Retry-After), which the MDs that
// are not asked meanwhile keep (ariAgainAt).
func (e *caEntry) pauseARI(d time.Duration, again time.Time) bool {
	for {
		old := e.ariAgain.Load()
		if again.UnixNano() <= old || e.ariAgain.CompareAndSwap(old, again.UnixNano()) {
			break
		}
	}
	for {
		old, now := e.ariUntil.Load(), time.Now()
		if e.ariUntil.CompareAndSwap(old, now.Add(d).UnixNano()) {
			return now.UnixNano() >= old
		}
	}
}

// ariAgainAt is the latest Retry-After a down renewalInfo gave in this run.
func (e *caEntry) ariAgainAt() time.Time {
	if v := e.ariAgain.Load(); v != 0 {
		return time.Unix(0, v)
	}
	return time.Time{}
}
