package acmeflow

import (
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// MemoPaths are the store paths md-order's answer for an MD depends on
// (see lib/memo): the live set, the staged set and its job, md-staple's
// OCSP and CRL verdicts, md-order revoke's list and the ARI cache.
func MemoPaths(name string) []memo.Path {
	return []memo.Path{
		{Group: string(store.GroupDomains), Name: name},
		{Group: string(store.GroupStaging), Name: name},
		{Group: string(store.GroupOCSP), Name: name},
		{Name: store.RevokedFile(name)},
		{Name: store.ARIFile(name)},
	}
}

// rememberUntil notes, for an MD with nothing due by the renew window,
// until when that answer holds while its store paths do not change: the
// renew window, the warn window (the "expiring" event is due from then),
// the ARI point, the next ARI check and the end of the live certificates,
// whichever comes first. Any other answer is not remembered.
func (r *Runner) rememberUntil(rec *md.Record, d renew.Decision, live []renew.Cert, ariNext, now time.Time) {
	if r.Force || r.DryRun || d.Action != renew.None || d.RenewAt.IsZero() || len(rec.CertFiles) > 0 ||
		!strings.HasPrefix(d.Reason, "not due before") {
		return
	}
	until := d.RenewAt
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(until) {
			until = t
		}
	}
	earlier(d.NextRun)
	earlier(renew.RenewAt(rec.EffectiveWarnWindow(), live))
	if r.ariApplies(rec, live) {
		if ariNext.IsZero() {
			ariNext = now
		}
		earlier(ariNext)
	}
	for _, c := range live {
		earlier(c.Leaf.NotAfter)
	}
	r.until.Note(rec.Name, until)
}

// MemoUntil is md-order's cli.Work.Until: until when the answer Process
// gave rec stays right while its store paths do not change.
func (r *Runner) MemoUntil(rec *md.Record) (time.Time, bool) {
	until, ok := r.until.Until(rec.Name)
	if !ok || rec.Error != nil || rec.Order == nil || rec.Order.Action != ActionNone || len(rec.Order.Warnings) > 0 {
		return time.Time{}, false
	}
	return until, true
}
