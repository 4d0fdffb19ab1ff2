package staple

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
)

// TestCheckOnlyFailureWarns: with stapling off a failed revocation check
// (the real responder answers "unknown") is a warning with a backoff in the
// OCSP job, not a failed record, and raises no event: nothing is served
// from it.
func TestCheckOnlyFailureWarns(t *testing.T) {
	fx := pebble(t)
	st := newStore(t)
	ev := &events{}
	r := &Runner{Store: st, Now: (&clock{t: time.Now()}).Now, Log: &testLog{}, Notifier: ev.notifier}
	rec := fx.install(t, st, "offunknown.test", "unknown.test")
	rec.Stapling = false
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
		t.Fatal(err)
	}
	if rec.Error != nil {
		t.Errorf("record failed: %v; want only a warning", rec.Error)
	}
	if rec.Staple == nil || len(rec.Staple.Warnings) != 1 || !strings.Contains(rec.Staple.Warnings[0], "revocation check failed") {
		t.Errorf("staple section %+v; want a revocation-check warning", rec.Staple)
	}
	if e := entry(t, rec, "rsa"); e.Action != "failed" || e.Errors != 1 || e.NextRun.IsZero() {
		t.Errorf("entry %+v; want a failed attempt with a backoff", e)
	}
	if got := ev.list(); len(got) != 0 {
		t.Errorf("events %v; want none", got)
	}
}

// TestNoRevocationSource: a certificate with neither OCSP responder nor
// CRL is a warning where stapling is on (nothing to staple) and only a
// note where it is off (nothing was asked for).
func TestNoRevocationSource(t *testing.T) {
	ca, err := ocsptest.NewCA("no revocation CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, stapling := range []bool{true, false} {
		st := newStore(t)
		_, _, chain, err := ca.Leaf(ocsptest.LeafOptions{Name: "norev.test"})
		if err != nil {
			t.Fatal(err)
		}
		rec := installPEM(t, st, "norev.test", chain)
		rec.Stapling = stapling
		r := &Runner{Store: st, Log: &testLog{}, Notifier: (&events{}).notifier}
		if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
			t.Fatal(err)
		}
		if rec.Error != nil || rec.Staple == nil || len(rec.Staple.Responses) != 1 || rec.Staple.Responses[0].Action != "skipped" {
			t.Fatalf("stapling %v: error %v, staple %+v; want one skipped response", stapling, rec.Error, rec.Staple)
		}
		if warned := len(rec.Staple.Warnings) > 0; warned != stapling {
			t.Errorf("stapling %v: warnings %q", stapling, rec.Staple.Warnings)
		}
	}
}
