package renew

import (
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// TestDecideRevokedWithMDOrder: a live certificate listed in
// revoked-<md>.json makes the MD due at once, whatever its renew window;
// another certificate listed there (the one it replaced) does not.
func TestDecideRevokedWithMDOrder(t *testing.T) {
	fresh := cert(t, t0.Add(-md.Day), t0.Add(89*md.Day), false, "a.org")
	other := cert(t, t0.Add(-md.Day), t0.Add(89*md.Day), false, "a.org")
	entry := func(c *Cert, reason string) md.Revocation {
		return md.Revocation{Spec: "rsa", Serial: "01", SHA256: Fingerprint(c.Leaf), Reason: reason, At: md.NewTime(t0.Add(-time.Minute))}
	}
	live := []Cert{{Spec: rsa, Leaf: fresh}}
	tests := []struct {
		name   string
		mode   int
		revs   *md.Revocations
		job    *md.Job
		action string
		reason string
	}{
		{name: "none listed", mode: md.RenewAuto, revs: nil, action: None, reason: "not due before"},
		{name: "live listed", mode: md.RenewAuto, revs: &md.Revocations{Entries: []md.Revocation{entry(&live[0], "keyCompromise")}}, action: Renew,
			reason: "certificate(rsa) 01 was revoked (keyCompromise) with md-order revoke at Sat, 28 Nov 2026 11:59:00 GMT"},
		{name: "only an old one listed", mode: md.RenewAuto, revs: &md.Revocations{Entries: []md.Revocation{entry(&Cert{Leaf: other}, "superseded")}}, action: None},
		{name: "manual stays manual", mode: md.RenewManual, revs: &md.Revocations{Entries: []md.Revocation{entry(&live[0], "superseded")}}, action: None, reason: "manual"},
		{name: "backoff waits", mode: md.RenewAuto, revs: &md.Revocations{Entries: []md.Revocation{entry(&live[0], "superseded")}},
			job: &md.Job{NextRun: md.NewTime(t0.Add(time.Minute)), Errors: 1}, action: None, reason: "backoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &md.MD{Name: "a.org", Domains: []string{"a.org"}, RenewMode: tc.mode}
			d := Decide(Input{Now: t0, MD: m, Certs: live, Job: tc.job, Revocations: tc.revs})
			if d.Action != tc.action || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("got %+v; want %q ~%q", d, tc.action, tc.reason)
			}
		})
	}
}
