package staple

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
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
	if err := r.Run(context.Background(), r.SetsFromRecords([]*md.Record{rec})); err != nil {
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
