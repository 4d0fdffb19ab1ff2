package status_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/install"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/staple"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/status"
	"github.com/mdtools/mdtools/lib/store"
)

// planFixture is one store state: an on-disk store with one MD, built by
// setup, looked at (plan and stages) at T+at.
type planFixture struct {
	t    *testing.T
	st   *store.Store
	m    *md.MD
	ca   *ocsptest.CA
	resp *ocsptest.Responder
	leaf *x509.Certificate
	at   time.Time // when plan and stages run
}

var ecP256 = md.KeySpec{Type: md.KeyEC, Curve: "P-256"}

// live installs a certificate (naming the OCSP responder) for the MD.
func (f *planFixture) live() {
	f.leaf = f.issue(store.GroupDomains)
}

func (f *planFixture) issue(g store.Group) *x509.Certificate {
	f.t.Helper()
	leaf, key, chainPEM, err := f.ca.Leaf(ocsptest.LeafOptions{OCSP: f.resp.URL, Name: f.m.Name})
	if err != nil {
		f.t.Fatal(err)
	}
	chain, err := store.ParseChainPEM(chainPEM)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx := f.t.Context()
	if err := f.st.SaveKey(ctx, g, f.m.Name, ecP256.FileName("privkey"), key); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.SaveChain(ctx, g, f.m.Name, ecP256.FileName("pubcert"), chain); err != nil {
		f.t.Fatal(err)
	}
	return leaf
}

// staged puts a finished set into staging/, as md-order leaves it, with
// md-order's ready time.
func (f *planFixture) staged(validFrom time.Time) {
	f.t.Helper()
	ctx := f.t.Context()
	sm := *f.m
	sm.CA = &md.CA{Proto: md.ProtoACME, URL: f.m.CA.URLs[0], URLs: f.m.CA.URLs}
	if err := f.st.SaveMD(ctx, store.GroupStaging, &sm); err != nil {
		f.t.Fatal(err)
	}
	f.issue(store.GroupStaging)
	job := &md.Job{Name: f.m.Name, Finished: true, Notified: true, NotifiedRenewed: true, ValidFrom: md.NewTime(validFrom)}
	if err := f.st.SaveJob(ctx, store.GroupStaging, f.m.Name, job); err != nil {
		f.t.Fatal(err)
	}
}

// orderBackoff records failed renewal attempts (staging/<md>/job.json).
func (f *planFixture) orderBackoff(errors int, next time.Time) {
	f.t.Helper()
	job := &md.Job{Name: f.m.Name, Errors: errors, NextRun: md.NewTime(next),
		Last: &md.JobResult{Status: 1, Problem: "urn:ietf:params:acme:error:serverInternal", Detail: "the CA failed"}}
	if err := f.st.SaveJob(f.t.Context(), store.GroupStaging, f.m.Name, job); err != nil {
		f.t.Fatal(err)
	}
}

// ari records the CA's ARI window for the live certificate, as md-order
// keeps it (<store>/ari-<md>.json), with no need to ask again before a day.
func (f *planFixture) ari(start, end time.Time) {
	f.t.Helper()
	f.m.ARIRenewals = true
	id, err := acmeflow.CertID(f.leaf)
	if err != nil {
		f.t.Fatal(err)
	}
	doc := map[string]any{"entries": map[string]any{id: map[string]any{
		"start": md.NewTime(start), "end": md.NewTime(end), "retry-after": md.NewTime(f.at.Add(md.Day))}}}
	if err := f.st.SaveJSON(f.t.Context(), store.GroupRoot, "", "ari-"+f.m.Name+".json", doc); err != nil {
		f.t.Fatal(err)
	}
}

// ariBeforeMiddle finds a window of 256 minutes whose point for md (as
// md-order picks it) has passed at T while its middle has not.
func ariBeforeMiddle(t *testing.T, name string, T time.Time) (start, end time.Time) {
	for k := 1; k < 128; k++ {
		start = T.Add(-time.Duration(k) * time.Minute)
		end = start.Add(256 * time.Minute)
		w := &renew.Window{Start: start, End: end}
		at := renew.ARIPick(start, end, renew.ARIByte(name, w))
		if !at.After(T) && start.Add(128*time.Minute).After(T) {
			return start, end
		}
	}
	t.Fatal("no window found")
	return
}

// response stores an OCSP response for the live certificate, valid over
// [from, until].
func (f *planFixture) response(from, until time.Time) {
	f.t.Helper()
	der, err := f.resp.Respond(f.leaf.SerialNumber, from)
	if err != nil {
		f.t.Fatal(err)
	}
	s := staple.Stored{Response: base64.RawURLEncoding.EncodeToString(der), Status: "good",
		Valid: md.Period{From: md.NewTime(from), Until: md.NewTime(until)}}
	if err := f.st.SaveJSON(f.t.Context(), store.GroupOCSP, f.m.Name, staple.ResponseFile(staple.CertID(f.leaf.Raw)), &s); err != nil {
		f.t.Fatal(err)
	}
}

// ocspBackoff records failed OCSP attempts in ocsp/<md>/job.json, for the
// certificate with id (md-staple's per-certificate state), and in the
// job's own errors and next-run.
func (f *planFixture) ocspBackoff(id string, errors int, next time.Time) {
	f.t.Helper()
	certs, err := json.Marshal(map[string]any{id: map[string]any{"errors": errors, "next-run": md.NewTime(next), "last-error": "responder down"}})
	if err != nil {
		f.t.Fatal(err)
	}
	job := &md.Job{Name: f.m.Name, Errors: errors, NextRun: md.NewTime(next), Extra: map[string]json.RawMessage{"certs": certs}}
	if err := f.st.SaveJob(f.t.Context(), store.GroupOCSP, f.m.Name, job); err != nil {
		f.t.Fatal(err)
	}
}

// TestPlanMatchesStages: for each store state, md-status --plan at a
// chosen time, then md-order (dry run), md-staple and md-install at that
// time; each stage must do what the plan said, and when a stage waits, until
// the time the plan gave (issue 13 item 2).
func TestPlanMatchesStages(t *testing.T) {
	ca, err := ocsptest.NewCA("plan test CA")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(resp.Close)
	if err := resp.SetIssuer(ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	T := time.Now().UTC().Truncate(time.Second)
	for _, tc := range planCases(t, T) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := store.Open(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			rs := md.MustTimeslice("33%")
			m := &md.MD{Name: "plan.test", Domains: []string{"plan.test"}, Transitive: 1, PrivKey: md.KeySpecs{ecP256},
				RenewMode: md.RenewAuto, RenewWindow: &rs, Stapling: tc.stapling,
				CA: &md.CA{Proto: md.ProtoACME, URLs: []string{"https://ca.invalid/directory"}}}
			f := &planFixture{t: t, st: st, m: m, ca: ca, resp: resp, at: T}
			tc.setup(f)
			if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
				t.Fatal(err)
			}
			plan := runPlan(t, dir, f.at)
			if plan.Order.Action != tc.order || plan.Install.Action != tc.install || plan.Staple.Action != tc.staple {
				t.Errorf("plan: order %q (%s), install %q (%s), staple %q (%s); want %q, %q, %q",
					plan.Order.Action, plan.Order.Reason, plan.Install.Action, plan.Install.Reason,
					plan.Staple.Action, plan.Staple.Reason, tc.order, tc.install, tc.staple)
			}
			checkOrder(t, st, m, f.at, plan)
			checkStaple(t, st, resp, f.at, plan)
			checkInstall(t, st, f.at, plan)
		})
	}
}

// planCase is a store state and what the plan says of it at T.
type planCase struct {
	name                   string
	stapling               bool
	setup                  func(f *planFixture)
	order, install, staple string // the plan's actions
}

// planCases are the store states, looked at around T.
func planCases(t *testing.T, T time.Time) []planCase {
	// With stapling off (false below) md-staple still checks revocation
	// with the certificate's OCSP responder.
	return []planCase{
		{"fresh MD without certificate", false, func(f *planFixture) {}, "renew", "none", "none"},
		{"live certificate far from renewal", false, func(f *planFixture) { f.live() }, "none", "none", "fetch"},
		{"inside the renew window", false, func(f *planFixture) { f.live(); f.at = T.Add(70 * md.Day) }, "renew", "none", "fetch"},
		{"order backoff, next run ahead", false, func(f *planFixture) { f.orderBackoff(3, T.Add(time.Hour)) }, "none", "none", "none"},
		{"order backoff, next run passed", false, func(f *planFixture) { f.orderBackoff(3, T.Add(-time.Minute)) }, "renew", "none", "none"},
		{"staged set ready", false, func(f *planFixture) { f.live(); f.staged(T.Add(-time.Minute)) }, "staged", "activate", "fetch"},
		// md-order recorded a ready time after the new notBefore
		// (MDActivationDelay, which the stages after md-order do not get).
		{"staged set not yet ready", false, func(f *planFixture) { f.live(); f.staged(T.Add(2 * time.Hour)) }, "staged", "wait", "fetch"},
		{"OCSP: no response yet", true, func(f *planFixture) { f.live() }, "none", "none", "fetch"},
		{"OCSP: response fresh", true, func(f *planFixture) { f.live(); f.response(T.Add(-time.Hour), T.Add(23*time.Hour)) }, "none", "none", "refresh"},
		{"OCSP: response due", true, func(f *planFixture) { f.live(); f.response(T.Add(-20*time.Hour), T.Add(4*time.Hour)) }, "none", "none", "fetch"},
		{"OCSP: due, in backoff", true, func(f *planFixture) {
			f.live()
			f.response(T.Add(-20*time.Hour), T.Add(4*time.Hour))
			f.ocspBackoff(staple.CertID(f.leaf.Raw), 2, T.Add(time.Hour))
		}, "none", "none", "refresh"},
		{"OCSP: due, backoff over", true, func(f *planFixture) {
			f.live()
			f.response(T.Add(-20*time.Hour), T.Add(4*time.Hour))
			f.ocspBackoff(staple.CertID(f.leaf.Raw), 2, T.Add(-time.Minute))
		}, "none", "none", "fetch"},
		// The backoff belongs to a certificate that was replaced: the new
		// one has no response and is fetched at once.
		{"OCSP: backoff of a replaced certificate", true, func(f *planFixture) {
			f.live()
			f.ocspBackoff("0123456789abcdef0123456789abcdef01234567", 4, T.Add(time.Hour))
		}, "none", "none", "fetch"},
		{"ARI window passed", false, func(f *planFixture) {
			f.live()
			f.ari(T.Add(-2*md.Day), T.Add(-md.Day))
		}, "renew", "none", "fetch"},
		// md-order renews at its own point of the window (renew.ARIByte),
		// here before the middle, which has not come yet.
		{"ARI point passed, middle not", false, func(f *planFixture) {
			f.live()
			f.ari(ariBeforeMiddle(t, f.m.Name, T))
		}, "renew", "none", "fetch"},
		{"ARI window ahead", false, func(f *planFixture) {
			f.live()
			f.ari(T.Add(md.Day), T.Add(2*md.Day))
		}, "none", "none", "fetch"},
		{"static certificate file", false, func(f *planFixture) {
			p := certtest.WriteSelfSigned(t, filepath.Join(t.TempDir(), "cert.pem"), f.m.Name)
			f.m.CertFiles, f.m.PKeyFiles = []string{p}, []string{p}
		}, "none", "none", "none"},
	}
}

// planJSON is one MD of the --plan document.
type planJSON struct {
	Order   stepJSON `json:"md-order"`
	Install stepJSON `json:"md-install"`
	Staple  stepJSON `json:"md-staple"`
}

type stepJSON struct {
	Action, Reason, Due string
}

// runPlan is md-status --plan at time at: Render with the plan view, read
// back from its JSON.
func runPlan(t *testing.T, dir string, at time.Time) planJSON {
	t.Helper()
	ro, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &status.Reader{Store: ro, Now: func() time.Time { return at }}
	var b bytes.Buffer
	if err := r.Render(t.Context(), &b, status.ViewPlan, nil, status.DefaultOptions()); err != nil {
		t.Fatalf("plan: %v", err)
	}
	var doc struct {
		Plans []planJSON `json:"managed-domains"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || len(doc.Plans) != 1 {
		t.Fatalf("plan document %s: %v", b.String(), err)
	}
	return doc.Plans[0]
}

func dueTime(t *testing.T, s stepJSON) time.Time {
	t.Helper()
	if s.Due == "" {
		return time.Time{}
	}
	d, err := time.Parse(time.RFC1123, s.Due)
	if err != nil {
		t.Fatalf("due %q: %v", s.Due, err)
	}
	return d
}

func storeRecords(t *testing.T, st *store.Store) []*md.Record {
	t.Helper()
	recs, err := staple.StoreRecords(t.Context(), st)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v", err)
	}
	return recs
}

// checkOrder runs md-order's decision path (dry run: nothing is ordered,
// the CA is not asked) at time at.
func checkOrder(t *testing.T, st *store.Store, m *md.MD, at time.Time, plan planJSON) {
	t.Helper()
	rec := storeRecords(t, st)[0]
	r := &acmeflow.Runner{Store: st, DryRun: true, Now: func() time.Time { return at },
		Candidates: func(*md.Record) ([]string, error) { return []string{"http-01"}, nil }}
	if err := r.Process(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	got := rec.Order.Action
	want := map[string][]string{"renew": {acmeflow.ActionDryRun}, "none": {acmeflow.ActionNone, acmeflow.ActionBackoff}, "staged": {acmeflow.ActionStaged}}[plan.Order.Action]
	if !oneOf(got, want) {
		t.Errorf("md-order did %q (%s); the plan said %q (%s)", got, rec.Order.Reason, plan.Order.Action, plan.Order.Reason)
	}
	if got == acmeflow.ActionBackoff && !rec.Order.NextRun.Equal(dueTime(t, plan.Order)) {
		t.Errorf("md-order waits until %v; the plan said %s", rec.Order.NextRun, plan.Order.Due)
	}
}

// checkStaple runs md-staple at time at, against the real responder: a
// fetch is a request the responder answers.
func checkStaple(t *testing.T, st *store.Store, resp *ocsptest.Responder, at time.Time, plan planJSON) {
	t.Helper()
	recs := storeRecords(t, st)
	before := resp.Requests.Load()
	r := &staple.Runner{Store: st, Now: func() time.Time { return at }, Jitter: func() byte { return 128 }}
	if _, err := r.RunRecords(t.Context(), recs, &staple.Options{}); err != nil {
		t.Fatal(err)
	}
	asked := resp.Requests.Load() - before
	var actions []string
	var next time.Time
	if recs[0].Staple != nil {
		for _, e := range recs[0].Staple.Responses {
			actions = append(actions, e.Action)
			if e.Action == "waiting" {
				next = e.NextRun.Time
			} else if e.Action == "kept" {
				next = e.RenewAt.Time
			}
		}
	}
	switch plan.Staple.Action {
	case "fetch":
		if asked == 0 {
			t.Errorf("md-staple did %v without asking the responder; the plan said fetch (%s)", actions, plan.Staple.Reason)
		}
	case "refresh":
		if asked > 0 || len(actions) == 0 || !next.Equal(dueTime(t, plan.Staple)) {
			t.Errorf("md-staple did %v (%d requests), next at %v; the plan said refresh at %s (%s)", actions, asked, next, plan.Staple.Due, plan.Staple.Reason)
		}
	default:
		if asked > 0 {
			t.Errorf("md-staple did %v (%d requests); the plan said %s (%s)", actions, asked, plan.Staple.Action, plan.Staple.Reason)
		}
	}
}

// checkInstall runs md-install at time at (no reload, no TLS check).
func checkInstall(t *testing.T, st *store.Store, at time.Time, plan planJSON) {
	t.Helper()
	recs := storeRecords(t, st)
	if err := install.Run(t.Context(), install.Options{Store: st, Now: func() time.Time { return at }, NoVerify: true, LockWait: 5 * time.Second}, recs); err != nil {
		t.Fatal(err)
	}
	in := recs[0].Install
	want := map[string]string{"activate": "activated", "wait": "waiting", "none": "none"}[plan.Install.Action]
	if in == nil || in.Action != want {
		t.Fatalf("md-install did %+v; the plan said %q (%s)", in, plan.Install.Action, plan.Install.Reason)
	}
	if want == "waiting" && !in.ReadyAt.Equal(dueTime(t, plan.Install)) {
		t.Errorf("md-install waits until %v; the plan said %s", in.ReadyAt, plan.Install.Due)
	}
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
