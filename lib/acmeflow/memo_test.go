package acmeflow

import (
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
)

// TestRememberUntil: a remembered "nothing due" ends at the first moment
// a run could answer otherwise by time alone.
func TestRememberUntil(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	c := certtest.New(t, certtest.Spec{Names: []string{"a.test"}, NotBefore: now.Add(-10 * 24 * time.Hour), NotAfter: now.Add(80 * 24 * time.Hour)})
	live := []renew.Cert{{Spec: md.KeySpec{}, Leaf: c.Cert}}
	renewAt := now.Add(50 * 24 * time.Hour)
	none := renew.Decision{Action: renew.None, Reason: "not due before x", RenewAt: renewAt}
	day := func(d int) *md.Timeslice { return &md.Timeslice{Duration: time.Duration(d) * 24 * time.Hour} }
	for _, tc := range []struct {
		name    string
		edit    func(*md.Record, *renew.Decision, *Runner)
		ariNext time.Time
		want    time.Time // zero: not remembered
	}{
		{"renew window", nil, time.Time{}, renewAt},
		{"warn window first", func(r *md.Record, _ *renew.Decision, _ *Runner) { r.WarnWindow = day(60) }, time.Time{}, now.Add(20 * 24 * time.Hour)},
		{"ARI point first", func(_ *md.Record, d *renew.Decision, _ *Runner) { d.NextRun = now.Add(time.Hour) }, time.Time{}, now.Add(time.Hour)},
		{"next ARI check first", func(r *md.Record, _ *renew.Decision, _ *Runner) { r.ARIRenewals = true }, now.Add(6 * time.Hour), now.Add(6 * time.Hour)},
		{"ARI without a cached answer", func(r *md.Record, _ *renew.Decision, _ *Runner) { r.ARIRenewals = true }, time.Time{}, now},
		{"forced", func(_ *md.Record, _ *renew.Decision, r *Runner) { r.Force = true }, time.Time{}, time.Time{}},
		{"dry run", func(_ *md.Record, _ *renew.Decision, r *Runner) { r.DryRun = true }, time.Time{}, time.Time{}},
		{"backoff", func(_ *md.Record, d *renew.Decision, _ *Runner) { d.Reason = "waiting until x" }, time.Time{}, time.Time{}},
		{"renew", func(_ *md.Record, d *renew.Decision, _ *Runner) { d.Action = renew.Renew }, time.Time{}, time.Time{}},
		{"static files", func(r *md.Record, _ *renew.Decision, _ *Runner) { r.CertFiles = []string{"/x.pem"} }, time.Time{}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &md.Record{MD: md.MD{Name: "a.test", Domains: []string{"a.test"}}}
			d, r := none, &Runner{}
			if tc.edit != nil {
				tc.edit(rec, &d, r)
			}
			r.rememberUntil(rec, d, live, tc.ariNext, now)
			rec.Order = &md.OrderResult{Action: ActionNone}
			got, ok := r.MemoUntil(rec)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Errorf("until %v (%v), want %v", got, ok, tc.want)
			}
		})
	}
	// An answer with an error or a warning is never remembered.
	r := &Runner{}
	rec := &md.Record{MD: md.MD{Name: "a.test"}, Order: &md.OrderResult{Action: ActionNone}, Error: &md.StageError{Stage: "order"}}
	r.rememberUntil(rec, none, live, time.Time{}, now)
	if _, ok := r.MemoUntil(rec); ok {
		t.Error("a failed record was remembered")
	}
}
