package install

import (
	"context"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// expiringInterval is mod_md's rate limit for the expiring event.
const expiringInterval = 24 * time.Hour

// Expiring reports whether a certificate valid in [from, until] is in the
// warn window at now (spec §3.2).
func Expiring(from, until, now time.Time, window md.Timeslice) bool {
	return !now.Before(window.Start(from, until))
}

// watched is mod_md's rule: not in error, and not an auto MD that no vhost
// uses. Manual and static MDs are watched (they still get "expiring").
func watched(rec *md.Record) bool {
	if rec.State == md.StateError {
		return false
	}
	unused := rec.Settings != nil && len(rec.Vhosts) == 0 && rec.Host == nil
	return !(rec.RenewMode == md.RenewAuto && unused)
}

// warn raises "expiring" when a live certificate of a watched MD is in its
// warn window, at most once a day, unless a finished renewal waits.
func (r *runner) warn(ctx context.Context, it *item) {
	if !it.liveOK || !watched(it.rec) || it.err != nil && it.err.Problem == "install-locked" {
		return
	}
	window := md.MustTimeslice(md.DefaultWarnWindow)
	if it.rec.WarnWindow != nil {
		window = *it.rec.WarnWindow
	}
	var soonest time.Time
	expiring := false
	for _, c := range it.live {
		leaf := c.chain[0]
		if Expiring(leaf.NotBefore, leaf.NotAfter, r.now, window) {
			expiring = true
			if soonest.IsZero() || leaf.NotAfter.Before(soonest) {
				soonest = leaf.NotAfter
			}
		}
	}
	if !expiring {
		return
	}
	ensureInstall(it.rec).Expiring = true
	if it.action == "waiting" {
		return // a renewed certificate is staged and becomes live soon
	}
	if !r.expiringDue(it) {
		return
	}
	if !it.locked {
		unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
		if err != nil {
			r.opts.Log.Debugf("%s: expiring event skipped: %v", it.name, err)
			return
		}
		it.unlock, it.locked = unlock, true
		if !r.expiringDue(it) { // re-check under the lock
			return
		}
	}
	job, err := r.st.LoadJob(store.GroupDomains, it.name)
	if err != nil {
		r.opts.Log.Warnf("%s: reading job log: %v", it.name, err)
		return
	}
	r.opts.Log.Warnf("%s: the certificate expires on %s and is in its warn window (%s)", it.name, soonest.UTC().Format(time.RFC1123), window)
	r.raise(ctx, it, job, "expiring")
	if err := r.st.SaveJob(store.GroupDomains, it.name, job); err != nil {
		r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
	}
}

// expiringDue tells whether the last expiring event is a day old.
func (r *runner) expiringDue(it *item) bool {
	job, err := r.st.LoadJob(store.GroupDomains, it.name)
	if err != nil {
		return false
	}
	if e, ok := job.LastEntry("message-expiring"); ok && r.now.Sub(e.When.Time) < expiringInterval {
		return false
	}
	return true
}
