package renew

import (
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// TestBackoff: one backoff for orders and OCSP (mod_md's
// md_job_delay_on_errors). The jitter is whole seconds, as mod_md computes
// it: md-order's copy jittered in nanoseconds (30 s, c=255 gave 44.88 s),
// md-staple's in seconds (44 s); mod_md's is the latter.
func TestBackoff(t *testing.T) {
	tests := []struct {
		name    string
		base    time.Duration
		errors  int
		problem string
		c       byte
		want    time.Duration
	}{
		{"no errors", 30 * time.Second, 0, "", 128, 0},
		{"first", 30 * time.Second, 1, "", 128, 30 * time.Second},
		{"second doubles", 30 * time.Second, 2, "", 128, time.Minute},
		{"fifth", 30 * time.Second, 5, "", 128, 8 * time.Minute},
		{"capped", 30 * time.Second, 40, "", 128, 24 * time.Hour},
		{"capped, no overflow", time.Hour, 1000, "", 128, 24 * time.Hour},
		{"jitter low", 30 * time.Second, 1, "", 0, 15 * time.Second},
		{"jitter high", 256 * time.Second, 1, "", 255, 256*time.Second + 127*time.Second},
		{"jitter in whole seconds", 30 * time.Second, 1, "", 255, 44 * time.Second},
		{"jitter rounds toward zero", 30 * time.Second, 1, "", 129, 30 * time.Second},
		{"capped before jitter", 24 * time.Hour, 1, "", 255, 24*time.Hour + 42862*time.Second},
		{"input problem", 30 * time.Second, 1, "urn:ietf:params:acme:error:malformed", 0, 12 * time.Hour},
		{"input problem no jitter", 30 * time.Second, 1, "urn:ietf:params:acme:error:malformed", 128, 24 * time.Hour},
		{"input problem short form", time.Second, 3, "acme:error:rejectedIdentifier", 128, 24 * time.Hour},
		{"rate limited is not input", 30 * time.Second, 1, "urn:ietf:params:acme:error:rateLimited", 128, 30 * time.Second},
		{"default base", 0, 1, "", 128, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(tc.base, tc.errors, tc.problem, tc.c); got != tc.want {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestOCSPDue(t *testing.T) {
	valid := md.Period{From: md.NewTime(t0), Until: md.NewTime(t0.Add(24 * time.Hour))}
	pct := md.MustTimeslice("33%")
	abs := md.MustTimeslice("2h")
	win := t0.Add(24*time.Hour - 28512*time.Second)
	tests := []struct {
		name   string
		now    time.Time
		st     OCSPState
		window md.Timeslice
		due    bool
		at     time.Time
	}{
		{"no response", t0, OCSPState{}, pct, true, t0},
		{"no response, backing off", t0, OCSPState{Errors: 1, NextRun: t0.Add(time.Minute)}, pct, false, t0.Add(time.Minute)},
		{"no response, backoff over", t0.Add(time.Minute), OCSPState{Errors: 1, NextRun: t0.Add(time.Minute)}, pct, true, t0.Add(time.Minute)},
		{"fresh", t0.Add(time.Hour), OCSPState{HasResponse: true, Valid: valid}, pct, false, win},
		{"window starts", win, OCSPState{HasResponse: true, Valid: valid}, pct, true, win},
		{"absolute window", t0.Add(21 * time.Hour), OCSPState{HasResponse: true, Valid: valid}, abs, false, t0.Add(22 * time.Hour)},
		{"absolute window, in", t0.Add(22 * time.Hour), OCSPState{HasResponse: true, Valid: valid}, abs, true, t0.Add(22 * time.Hour)},
		{"in window, backing off", t0.Add(23 * time.Hour), OCSPState{HasResponse: true, Valid: valid, Errors: 3, NextRun: t0.Add(25 * time.Hour)}, pct, false, t0.Add(25 * time.Hour)},
		{"expired, retry due", t0.Add(26 * time.Hour), OCSPState{HasResponse: true, Valid: valid, Errors: 3, NextRun: t0.Add(25 * time.Hour)}, pct, true, t0.Add(25 * time.Hour)},
		{"backoff ended before the window", t0.Add(time.Hour), OCSPState{HasResponse: true, Valid: valid, Errors: 1, NextRun: t0.Add(time.Minute)}, pct, false, win},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			due, at := OCSPDue(tc.now, tc.st, tc.window)
			if due != tc.due || !at.Equal(tc.at) {
				t.Errorf("OCSPDue = %v, %v; want %v, %v", due, at, tc.due, tc.at)
			}
		})
	}
}

// TestActivateAt: md-install activates at md-order's recorded ready time
// (mod_md's ready_at); a set staged without one waits for its notBefore
// plus MDActivationDelay, no later than the live set's expiry.
func TestActivateAt(t *testing.T) {
	nb := t0.Add(-time.Hour) // CAs backdate notBefore
	tests := []struct {
		name string
		s    StagedSet
		want time.Time
	}{
		{"recorded", StagedSet{ValidFrom: t0.Add(md.Day), NotBefore: nb, LiveNotAfter: t0.Add(10 * md.Day), Delay: md.Day}, t0.Add(md.Day)},
		{"recorded before notBefore", StagedSet{ValidFrom: t0, NotBefore: t0.Add(time.Hour)}, t0.Add(time.Hour)},
		{"none recorded, no delay", StagedSet{NotBefore: nb, LiveNotAfter: t0.Add(10 * md.Day)}, nb},
		{"none recorded, delay", StagedSet{NotBefore: nb, LiveNotAfter: t0.Add(10 * md.Day), Delay: 2 * md.Day}, nb.Add(2 * md.Day)},
		{"none recorded, delay cut at live expiry", StagedSet{NotBefore: nb, LiveNotAfter: t0.Add(time.Hour), Delay: 2 * md.Day}, t0.Add(time.Hour)},
		{"none recorded, no live set", StagedSet{NotBefore: nb, Delay: 2 * md.Day}, nb},
		{"none recorded, live expired", StagedSet{NotBefore: nb, LiveNotAfter: nb.Add(-time.Hour), Delay: 2 * md.Day}, nb},
		{"none recorded, negative delay", StagedSet{NotBefore: nb, LiveNotAfter: t0.Add(md.Day), Delay: -time.Second}, nb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ActivateAt(tc.s); !got.Equal(tc.want) {
				t.Errorf("got %v; want %v", got, tc.want)
			}
			ready, _ := ReadyToActivate(tc.want.Add(-time.Second), tc.s)
			ready2, _ := ReadyToActivate(tc.want, tc.s)
			if ready || !ready2 {
				t.Errorf("ReadyToActivate a second before/at %v: %v, %v", tc.want, ready, ready2)
			}
		})
	}
}
