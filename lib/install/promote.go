package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// promoteAll saves staged accounts and md.json, then swaps the tmp sets
// in, all under the store-wide lock.
func (r *runner) promoteAll(ctx context.Context) error {
	var act, fin []*item
	for _, it := range r.items {
		switch it.action {
		case "activate":
			act = append(act, it)
		case "finish":
			fin = append(fin, it)
		}
	}
	if len(act) == 0 && len(fin) == 0 {
		return nil
	}
	unlock, err := r.st.Lock(ctx, "", r.opts.LockWait)
	if err != nil {
		for _, it := range act {
			it.fail(ProblemStore, fmt.Errorf("taking the store lock: %w", err))
			r.abortTmp(ctx, it)
		}
		if errors.Is(err, store.ErrLocked) && len(act) > 0 {
			r.locked = true
		}
		return nil
	}
	defer unlock()
	// An interrupted activation may have left a dead writer's temp file in
	// the live set; with the MD lock and the store lock (md-parse's) held,
	// no live writer owns one. (An activated set's old live set is swept
	// when it is archived.)
	for _, it := range fin {
		if _, err := r.st.SweepTemp(ctx, store.GroupDomains, it.name); err != nil {
			r.opts.Log.Warnf("%s: sweeping domains/%s: %v", it.name, it.name, err)
		}
	}
	if len(act) == 0 {
		return nil
	}
	r.dirty.Store(true)
	r.writeTmpMDs(ctx, act)
	if err := r.syncAll(); err != nil {
		return err
	}
	r.promoteSets(ctx, act)
	return r.syncAll()
}

// writeTmpMDs saves each activated item's staged account in accounts/ and
// its new md.json in tmp/<md>; an item that fails is aborted.
func (r *runner) writeTmpMDs(ctx context.Context, act []*item) {
	for _, it := range act {
		m := r.liveMD(it)
		if it.set.accountJSON != nil {
			id, err := r.accounts.save(ctx, r.dst, it.set.accountJSON, it.set.accountKey, it.set.md.CA.URL)
			if err != nil {
				if isInvalid(err) {
					it.reject(err)
				} else {
					it.fail(ProblemStore, err)
				}
				r.abortTmp(ctx, it)
				continue
			}
			m.CA.Account, it.account = id, id
			hook("account-saved", it.name)
		} else if m.CA.Account == "" {
			m.CA.Account = r.accounts.forCA(ctx, r.st, m.CA.URL)
		}
		if err := r.dst.SaveMD(ctx, store.GroupTmp, m); err != nil {
			it.fail(ProblemStore, err)
			r.abortTmp(ctx, it)
			continue
		}
	}
}

// promoteSets swaps the tmp sets of the items still activating in
// (domains/<md>, the old set to archive/).
func (r *runner) promoteSets(ctx context.Context, act []*item) {
	r.parallelOver(act, func(it *item) {
		if it.action != "activate" {
			return
		}
		hook("before-promote", it.name)
		arch, err := r.dst.Promote(ctx, store.GroupTmp, it.name)
		if err != nil {
			it.fail(ProblemStore, fmt.Errorf("activating: %w", err))
			r.abortTmp(ctx, it)
			return
		}
		it.archive = arch
		hook("promoted", it.name)
	})
}

// liveMD builds the md.json of the new live set: the MD as configured (the
// record), with the effective CA and the account of the staged set (the
// account that ordered these certificates: only it may name them in an
// ARI "replaces"), state complete.
func (r *runner) liveMD(it *item) *md.MD {
	m := it.rec.MD
	m.Extra = it.rec.MD.Extra
	ca := md.CA{}
	if m.CA != nil {
		ca = *m.CA
	}
	if it.set.md.CA != nil && it.set.md.CA.Account != "" {
		ca.Account = it.set.md.CA.Account
	}
	ca.URL = it.set.md.CA.URL
	if ca.Proto == "" {
		ca.Proto = md.ProtoACME
	}
	m.CA = &ca
	m.State, m.StateDescr = md.StateComplete, ""
	return &m
}

func (r *runner) abortTmp(ctx context.Context, it *item) {
	_ = r.st.Purge(ctx, store.GroupTmp, it.name)
	if it.deploy != nil {
		it.deploy.abort()
		it.deploy = nil
	}
}

// finish completes an activation (deploy flip, purge, job log, event) or a
// rejection (purge, job log, event).
func (r *runner) finish(ctx context.Context, it *item) {
	switch it.action {
	case "activate", "finish":
		r.dirty.Store(true)
	case "rejected":
		r.dirty.Store(true)
		r.purgeStaging(ctx, it)
		job, err := r.st.LoadJob(ctx, store.GroupDomains, it.name)
		if err != nil {
			job = &md.Job{Name: it.name}
		}
		job.AddLog(r.now, "install-error", ProblemInvalidStaging, it.err.Detail)
		r.raise(ctx, it, job, "errored")
		// the MD's job log lives beside its md.json; no half set is made
		// in domains/ for an MD md-parse has not synced
		if r.st.Exists(ctx, store.GroupDomains, it.name, store.FileMD) {
			if err := r.dst.SaveJob(ctx, store.GroupDomains, it.name, job); err != nil {
				r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
			}
		}
		return
	default:
		return
	}
	if it.deploy != nil {
		if err := it.deploy.commit(); err != nil {
			it.fail(ProblemDeploy, err)
		} else {
			it.rec.Install = ensureInstall(it.rec)
		}
		hook("deployed", it.name)
	}
	job := it.tmpJob
	if job == nil {
		var err error
		if job, err = r.st.LoadJob(ctx, store.GroupDomains, it.name); err != nil {
			job = &md.Job{Name: it.name}
		}
	}
	detail := "The new certificate set for " + it.name + " is live in domains/" + it.name
	if it.archive != "" {
		detail += "; the previous set is in archive/" + it.archive
	}
	job.AddLog(r.now, "progress", "", "md-install: "+detail)
	r.raise(ctx, it, job, "installed")
	if err := r.dst.SaveJob(ctx, store.GroupDomains, it.name, job); err != nil {
		r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
	}
	hook("job-saved", it.name)
	r.purgeStaging(ctx, it)
	hook("purged", it.name)
	if it.set != nil {
		it.live, it.liveOK = it.set.creds, true
	} else {
		it.live, it.liveOK = loadLive(ctx, r.st, it.name, it.specs)
	}
	it.changed = true
	r.opts.Log.Infof("%s: activated%s", it.name, archiveNote(it.archive))
	if it.action == "finish" {
		it.action = "activated"
	} else {
		it.action, it.reason = "activated", ""
	}
}

func archiveNote(a string) string {
	if a == "" {
		return ""
	}
	return " (previous set archived as archive/" + a + ")"
}

func ensureInstall(rec *md.Record) *md.InstallResult {
	if rec.Install == nil {
		rec.Install = &md.InstallResult{}
	}
	return rec.Install
}

// purgeStaging removes the staged set and the MD's challenge data.
func (r *runner) purgeStaging(ctx context.Context, it *item) {
	if err := r.dst.Purge(ctx, store.GroupStaging, it.name); err != nil {
		r.opts.Log.Warnf("%s: purging staging: %v", it.name, err)
	}
	for _, d := range it.rec.Domains {
		if err := r.dst.Purge(ctx, store.GroupChallenges, d); err != nil && !errors.Is(err, store.ErrBadName) {
			r.opts.Log.Warnf("%s: purging challenges/%s: %v", it.name, d, err)
		}
	}
}

// raise signals an event through lib/event (MDMessageCmd, rate limits,
// job-log entry). A failing command is logged, never fatal: mod_md ignores
// the exit code of installed and errored, and an expiring warning must not
// stop an installation.
func (r *runner) raise(ctx context.Context, it *item, job *md.Job, reason string) {
	n := event.New(it.rec.Settings)
	n.Log = r.opts.Log
	n.Env = event.PathEnv(r.opts.Store.String(), &it.rec.MD)
	if err := n.Raise(ctx, job, reason, it.name, r.now); err != nil {
		r.opts.Log.Warnf("%s: event %s: %v", it.name, reason, err)
	}
}

// refreshDeploy rewrites the deploy set of an MD whose deployed files are
// not the live certificate (first deploy, a run killed before the flip, a
// changed deploy config).
func (r *runner) refreshDeploy(ctx context.Context, it *item) {
	d := deployOf(it.rec)
	if d == nil || !it.liveOK || it.action == "failed" || it.action == "rejected" {
		return
	}
	if it.rec.Install == nil {
		it.rec.Install = &md.InstallResult{}
	}
	it.rec.Install.Deploy = deployPath(d, it.name)
	if deployCurrent(d, it.name, it.live) {
		r.sweepDeploy(ctx, it, d)
		return
	}
	if r.quick {
		it.needsBatch = true
		return
	}
	if !it.locked {
		if err := r.lock(ctx, it); err != nil || !it.locked {
			return
		}
		if it.err != nil {
			return
		}
	}
	creds := make([]credential, 0, len(it.live))
	for _, c := range it.live {
		if err := c.fullChain(ctx, r.st, it.name); err != nil {
			it.fail(ProblemDeploy, err)
			return
		}
		key, err := r.st.LoadKey(ctx, store.GroupDomains, it.name, c.spec.FileName("privkey"))
		if err != nil {
			it.fail(ProblemDeploy, fmt.Errorf("reading the live key: %w", err))
			return
		}
		creds = append(creds, credential{spec: c.spec, key: key, chain: c.chain})
	}
	plan, err := r.deployer.prepare(d, it.name, creds)
	if err == nil {
		if err = store.SyncFS(plan.dir); err == nil {
			err = plan.commit()
		}
		if err != nil {
			plan.abort()
		}
	}
	if err != nil {
		it.fail(ProblemDeploy, err)
		return
	}
	it.changed = true
	r.opts.Log.Infof("%s: deployed to %s", it.name, deployPath(d, it.name))
}

// sweepDeploy removes an MD's orphaned deploy sets (old private keys) when
// its current set is in place: a run killed after the symlink flip but
// before removing the previous set leaves nothing else to notice it. The
// sweep runs under the MD's lock, so a set another run is preparing is
// never taken for an orphan.
func (r *runner) sweepDeploy(ctx context.Context, it *item, d *md.Deploy) {
	stale, err := r.deployer.staleSets(d)
	if err != nil || len(stale) == 0 {
		return
	}
	if r.quick {
		it.needsBatch = true
		return
	}
	if !it.locked {
		// try once: a run holding the lock sweeps itself, or the next does
		unlock, err := r.st.Lock(ctx, it.name, -1)
		if err != nil {
			return
		}
		defer unlock()
		// listed before the lock: list again under it
		stale, err = (&deployer{}).staleSets(d)
		if err != nil {
			return
		}
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			r.opts.Log.Warnf("%s: removing the orphaned deploy set %s: %v", it.name, p, err)
		}
	}
	r.noteDeployDir(filepath.Dir(filepath.Clean(d.Dir)))
}
