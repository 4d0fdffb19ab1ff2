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

// watched is mod_md's rule (md.Record.IsWatched): not in error, and not
// an auto MD that no vhost uses. Manual and static MDs are watched (they
// still get "expiring").
func watched(rec *md.Record) bool { return rec.IsWatched() }

// warn raises "expiring" when a live certificate of a watched MD is in its
// warn window, at most once a day, unless a finished renewal waits. The
// event is logged in staging/<md>/job.json, the renewal job, as mod_md and
// md-order do, so that md-order and md-install share one rate limit.
func (r *runner) warn(ctx context.Context, it *item) {
	if !it.liveOK || !watched(it.rec) || it.err != nil && it.err.Problem == "install-locked" {
		return
	}
	window := it.rec.EffectiveWarnWindow()
	var soonest time.Time
	expiring := false
	for _, c := range it.live {
		nb, na := c.validity()
		if Expiring(nb, na, r.now, window) {
			expiring = true
			if soonest.IsZero() || na.Before(soonest) {
				soonest = na
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
	if _, due := r.expiringJob(ctx, it); !due {
		return
	}
	if r.quick {
		it.needsBatch = true
		return
	}
	if !it.locked {
		unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
		if err != nil {
			r.opts.Log.Debugf("%s: expiring event skipped: %v", it.name, err)
			return
		}
		it.unlock, it.locked = unlock, true
	}
	job, due := r.expiringJob(ctx, it) // again, under the lock
	if !due {
		return
	}
	r.opts.Log.Warnf("%s: the certificate expires on %s and is in its warn window (%s)", it.name, soonest.UTC().Format(time.RFC1123), window)
	r.raise(ctx, it, job, "expiring")
	if err := r.st.SaveJob(ctx, store.GroupStaging, it.name, job); err != nil {
		r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
	}
}

// expiringJob loads the renewal job and tells whether an expiring event is
// due: no finished renewal waits and the last one is a day old.
func (r *runner) expiringJob(ctx context.Context, it *item) (*md.Job, bool) {
	job, err := r.st.LoadJob(ctx, store.GroupStaging, it.name)
	if err != nil || job.Finished {
		return job, false
	}
	if e, ok := job.LastEntry("message-expiring"); ok && r.now.Sub(e.When.Time) < expiringInterval {
		return job, false
	}
	return job, true
}
