package status

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// TestPlanDecisions drives Plan with injected times over one store: the
// same MD seen at different moments, and job states md-order leaves.
func TestPlanDecisions(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir)
	must(t, err)
	chain := loadFixture(t, "good.test.pem")
	from, until := chain[0].NotBefore.UTC(), chain[0].NotAfter.UTC()
	renewAt := md.MustTimeslice("33%").Start(from, until)
	m := baseMD("good.test")
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "good.test", "pubcert.pem", chain))

	// A finished renewal in staging whose certificate is valid only later.
	m2 := baseMD("later.test")
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m2))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "later.test", "pubcert.pem", chain))
	must(t, st.SaveMD(t.Context(), store.GroupStaging, m2))
	must(t, st.SaveChain(t.Context(), store.GroupStaging, "later.test", "pubcert.pem", chain))
	lj := job("later.test", from, true, 0, nil)
	lj.ValidFrom = md.NewTime(from.Add(48 * time.Hour))
	must(t, st.SaveJob(t.Context(), store.GroupStaging, "later.test", lj))

	// Another store: the same MD with an ARI window recorded by a stage,
	// before its renew window.
	ariDir := t.TempDir()
	st2, err := store.Open(t.Context(), ariDir)
	must(t, err)
	must(t, st2.SaveMD(t.Context(), store.GroupDomains, m))
	must(t, st2.SaveChain(t.Context(), store.GroupDomains, "good.test", "pubcert.pem", chain))
	// md-order's ARI record (lib/acmeflow), keyed by the RFC 9773 id.
	must(t, st2.Write(t.Context(), store.GroupRoot, "", "ari-good.test.json", []byte(`{"entries": {"`+rfcCertID(NewCertInfo(chain))+`": {
  "start": "`+httpDate(from.Add(10*24*time.Hour))+`", "end": "`+httpDate(from.Add(11*24*time.Hour))+`",
  "explanation-url": "https://ca.example/why", "retry-after": "`+httpDate(from.Add(time.Hour))+`"}}}`)))

	// md-order's point in the window (the same for every run).
	win := &renew.Window{Start: from.Add(10 * 24 * time.Hour), End: from.Add(11 * 24 * time.Hour)}
	ariAt := renew.ARIPick(win.Start, win.End, renew.ARIByte("good.test", win))

	ro, err := store.OpenReadOnly(dir)
	must(t, err)
	roARI, err := store.OpenReadOnly(ariDir)
	must(t, err)
	tests := []struct {
		md     string
		at     time.Time
		order  string
		reason string
		due    time.Time
		inst   string
	}{
		{"good.test", from.Add(time.Hour), "none", "not due before", renewAt, "none"},
		{"good.test", renewAt, "renew", "renew window reached", renewAt, "none"},
		{"good.test", until.Add(time.Hour), "renew", "renew window reached", until.Add(time.Hour), "none"},
		{"later.test", from.Add(time.Hour), "staged", "already staged", from.Add(48 * time.Hour), "wait"},
		{"later.test", from.Add(49 * time.Hour), "staged", "already staged", from.Add(49 * time.Hour), "activate"},
		{"ari:good.test", from.Add(9 * 24 * time.Hour), "none", "not due before", ariAt, "none"},
		{"ari:good.test", from.Add(12 * 24 * time.Hour), "renew", "ARI, explanation at https://ca.example/why", from.Add(12 * 24 * time.Hour), "none"},
	}
	for _, tc := range tests {
		r := &Reader{Store: ro, Now: func() time.Time { return tc.at }, History: true, Logs: true, HistoryLogs: true}
		name := tc.md
		if n, ok := strings.CutPrefix(name, "ari:"); ok {
			r.Store, name = roARI, n
		}
		rep, err := r.Load(t.Context(), name)
		must(t, err)
		p := rep.Plan(md.MustTimeslice("33%"))
		// md-order's or md-install's next work (md-staple's revocation
		// check of the fixture certificate is due at once).
		next := p.Order.Due
		if !p.Install.Due.IsZero() && (next.IsZero() || p.Install.Due.Before(next)) {
			next = p.Install.Due
		}
		if p.Order.Action != tc.order || !strings.Contains(p.Order.Reason, tc.reason) || p.Install.Action != tc.inst || !next.Equal(tc.due) {
			t.Errorf("%s at %s: order %s (%s), install %s, next %s; want %s (%s), %s, %s",
				tc.md, tc.at, p.Order.Action, p.Order.Reason, p.Install.Action, next, tc.order, tc.reason, tc.inst, tc.due)
		}
	}
}

// TestKeyMismatchIsNotGood: a live certificate beside a private key that
// is not its own is reported incomplete (not "good"), and the plan renews
// it (issue 11 item 4).
func TestKeyMismatchIsNotGood(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir)
	must(t, err)
	chain := loadFixture(t, "good.test.pem")
	must(t, st.SaveMD(t.Context(), store.GroupDomains, baseMD("good.test")))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "good.test", "pubcert.pem", chain))
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	must(t, st.SaveKey(t.Context(), store.GroupDomains, "good.test", "privkey.pem", other))
	ro, err := store.OpenReadOnly(dir)
	must(t, err)
	r := &Reader{Store: ro, Now: func() time.Time { return chain[0].NotBefore.Add(time.Hour) }, History: true}
	rep, err := r.Load(t.Context(), "good.test")
	must(t, err)
	want := "incomplete: certificate(rsa) does not match its private key."
	if got := rep.StatusWord(); got != want {
		t.Errorf("status %q; want %q", got, want)
	}
	if p := rep.Plan(md.MustTimeslice("33%")); p.Order.Action != "renew" {
		t.Errorf("plan %+v; want renew", p.Order)
	}
}
