package install

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// prepare checks the staged set of a locked item and writes its tmp set.
func (r *runner) prepare(ctx context.Context, it *item) {
	it.live, it.liveOK = loadLive(ctx, r.st, it.name, it.specs)
	if !it.locked {
		return
	}
	if _, err := r.st.RecoverPromote(ctx, store.GroupTmp, it.name); err != nil {
		it.fail(ProblemStore, fmt.Errorf("finishing an interrupted activation: %w", err))
		return
	}
	// md-order and md-install write staging/<md> only under the MD lock
	// we hold: a temp file there is a dead writer's
	if _, err := r.st.SweepTemp(ctx, store.GroupStaging, it.name); err != nil {
		it.fail(ProblemStore, fmt.Errorf("sweeping staging/%s: %w", it.name, err))
		return
	}
	finished, job := r.stagedFinished(ctx, it)
	if !finished {
		return
	}
	set := r.checkStaged(ctx, it, job)
	if set == nil {
		return
	}
	it.set = set
	hook("checked", it.name)
	if it.liveOK && sameCerts(set.creds, it.live) {
		it.action, it.reason = "finish", "finished an activation that was interrupted"
		return
	}
	if r.notReady(it, set) {
		return
	}
	if r.writeTmp(ctx, it, set) {
		it.action = "activate"
	}
}

// checkStaged loads and checks the finished staged set of an item; nil
// when there is none to activate (the item says why).
func (r *runner) checkStaged(ctx context.Context, it *item, job *md.Job) *staged {
	set, err := loadStaged(ctx, r.st, it.name, it.specs, job)
	if err == nil {
		err = check(set.creds, it.rec.Domains, r.now)
	}
	if err != nil {
		if isInvalid(err) && r.stagedIsLive(ctx, it) {
			// a run died purging a set it had made live: finish its work
			// silently instead of rejecting what is already served
			it.action, it.reason = "finish", "finished an activation that was interrupted"
			return nil
		}
		if isInvalid(err) {
			it.reject(err)
		} else {
			it.fail(ProblemStore, err)
		}
		return nil
	}
	return set
}

// notReady reports whether the staged set must still wait (its notBefore
// or MDActivationDelay), and says so on the item.
func (r *runner) notReady(it *item, set *staged) bool {
	var delay time.Duration
	if it.rec.Settings != nil && it.rec.Settings.ActivationDelay != "" {
		delay, _ = md.ParseDuration(it.rec.Settings.ActivationDelay, md.Day)
	}
	var liveValid []credential
	if it.liveOK {
		liveValid = it.live
	}
	if ready, at := renew.ReadyToActivate(r.now, stagedTimes(set, liveValid, delay)); !ready {
		it.action, it.readyAt = "waiting", at
		it.reason = "staged certificate is ready at " + at.UTC().Format(time.RFC1123)
		return true
	}
	return false
}

// writeTmp writes tmp/<md> (plain keys, certificates, job; md.json follows
// in phase 2) and prepares the deploy set; false when it failed (the item
// says why).
func (r *runner) writeTmp(ctx context.Context, it *item, set *staged) bool {
	r.dirty.Store(true)
	if err := r.dst.Purge(ctx, store.GroupTmp, it.name); err != nil {
		it.fail(ProblemStore, err)
		return false
	}
	for _, c := range set.creds {
		if err := r.dst.SaveKey(ctx, store.GroupTmp, it.name, c.spec.FileName("privkey"), c.key); err != nil {
			it.fail(ProblemStore, err)
			return false
		}
		if err := r.dst.SaveChain(ctx, store.GroupTmp, it.name, c.spec.FileName("pubcert"), c.chain); err != nil {
			it.fail(ProblemStore, err)
			return false
		}
	}
	job := set.job
	job.Name = it.name
	job.Last = &md.JobResult{Status: 0, Detail: "new certificate successfully saved in domains", Activity: "moving tmp to become new domains"}
	job.AddLog(r.now, "progress", "", "md-install: activating the staged certificate set (valid since "+md.NewTime(set.creds[0].chain[0].NotBefore).Format(timeFormat)+")")
	if err := r.dst.SaveJob(ctx, store.GroupTmp, it.name, job); err != nil {
		it.fail(ProblemStore, err)
		return false
	}
	it.tmpJob = job
	hook("tmp-written", it.name)
	if d := deployOf(it.rec); d != nil {
		plan, err := r.deployer.prepare(d, it.name, set.creds)
		if err != nil {
			it.fail(ProblemDeploy, err)
			_ = r.dst.Purge(ctx, store.GroupTmp, it.name)
			return false
		}
		it.deploy = plan
		r.noteDeployDir(filepath.Dir(filepath.Clean(d.Dir)))
	}
	return true
}

// stagedIsLive reports whether what is left in staging/<md> is the live
// set: every staged certificate is the live one and every staged key is
// the live certificate's. That is a set that was promoted by a run that
// died before (or, with an older md-install, while) purging it.
func (r *runner) stagedIsLive(ctx context.Context, it *item) bool {
	if !it.liveOK || len(it.live) == 0 {
		return false
	}
	for _, c := range it.live {
		data, err := r.st.Read(ctx, store.GroupStaging, it.name, c.spec.FileName("pubcert"))
		if err != nil {
			return false
		}
		block, _ := pem.Decode(data)
		if block == nil || !bytes.Equal(block.Bytes, c.leafRaw()) {
			return false
		}
		key, err := r.st.LoadKey(ctx, store.GroupStaging, it.name, c.spec.FileName("privkey"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		leaf, perr := x509.ParseCertificate(c.leafRaw())
		if err != nil || perr != nil || !renew.KeyFits(leaf, key) {
			return false
		}
	}
	return true
}

// stagedFinished tells whether staging/<md> holds a set md-order finished:
// its job.json says finished, or (a set staged by hand) there is no job.json
// but md.json and every certificate. A set md-order is still working on
// (an order, some keys) is left alone: md-order resumes it.
func (r *runner) stagedFinished(ctx context.Context, it *item) (bool, *md.Job) {
	if r.st.Exists(ctx, store.GroupStaging, it.name, store.FileJob) {
		job, err := r.st.LoadJob(ctx, store.GroupStaging, it.name)
		if err != nil {
			it.reject(err)
			return false, nil
		}
		if !job.Finished && (r.st.Exists(ctx, store.GroupStaging, it.name, store.FileMD) || r.st.Exists(ctx, store.GroupStaging, it.name, it.specs[0].FileName("pubcert"))) {
			it.reason = "md-order has not finished the staged set"
		}
		return job.Finished, job
	}
	if !r.st.Exists(ctx, store.GroupStaging, it.name, store.FileMD) {
		return false, nil // another run activated it while we waited
	}
	for _, spec := range it.specs {
		if !r.st.Exists(ctx, store.GroupStaging, it.name, spec.FileName("pubcert")) {
			it.reason = "md-order has not finished the staged set"
			return false, nil
		}
	}
	return true, &md.Job{Name: it.name}
}

const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func deployOf(rec *md.Record) *md.Deploy {
	if rec.Host != nil && rec.Host.Deploy != nil && rec.Host.Deploy.Dir != "" {
		return rec.Host.Deploy
	}
	return nil
}
