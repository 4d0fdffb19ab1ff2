package acmeflow

import (
	"context"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// EventRevoked is the event md-order raises once for a live certificate
// revoked with md-order revoke (MDMessageCmd <cmd> revoked <md>).
const EventRevoked = "revoked"

// revocations reads revoked-<md>.json for the decision; a file that cannot
// be read is logged and counts as none.
func (r *Runner) revocations(ctx context.Context, name string) *md.Revocations {
	revs, err := renew.LoadRevocations(ctx, r.Store, name)
	if err != nil {
		r.log().Warnf("%s: %v", name, err)
		return nil
	}
	return revs
}

// notifyRevoked raises the "revoked" event for a live certificate that
// md-order revoke revoked and nobody was told about yet, then marks it
// notified. A command that fails is logged (and in the job, by the
// notifier) and tried again by the next run.
func (r *Runner) notifyRevoked(ctx context.Context, rec *md.Record, job *md.Job, revs *md.Revocations, live []renew.Cert, now time.Time) {
	e, ok := renew.RevokedLive(live, revs)
	if r.DryRun || !ok || e.Notified {
		return
	}
	if err := r.notifier(rec).Raise(ctx, job, EventRevoked, rec.Name, now); err != nil {
		r.log().Warnf("%s: revoked event: %v", rec.Name, err)
		return
	}
	for i := range revs.Entries {
		if _, live := renew.RevokedLive(live, &md.Revocations{Entries: revs.Entries[i : i+1]}); live {
			revs.Entries[i].Notified = true
		}
	}
	if err := r.Store.SaveJSON(ctx, store.GroupRoot, "", store.RevokedFile(rec.Name), revs); err != nil {
		r.log().Warnf("%s: saving %s: %v", rec.Name, store.RevokedFile(rec.Name), err)
	}
	if err := r.Store.SaveJob(ctx, store.GroupStaging, rec.Name, job); err != nil {
		r.log().Warnf("%s: saving job: %v", rec.Name, err)
	}
}
