package install

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// writeApache writes the snippet of every MD when --apache-dir is set. An
// MD without a live certificate gets mod_md's fallback certificate, so that
// Apache starts (and answers 503 on HTTPS) until the first one is issued.
func (r *runner) writeApache(ctx context.Context) {
	if r.opts.ApacheDir == "" {
		return
	}
	for _, it := range r.items {
		src := CertLive
		if !it.liveOK {
			if !it.locked {
				unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
				if err != nil {
					r.opts.Log.Warnf("%s: Apache snippet not updated: %v", it.name, err)
					continue
				}
				it.unlock, it.locked = unlock, true
			}
			wrote, err := ensureFallback(ctx, r.st, &it.rec.MD, r.now)
			if err != nil {
				it.fail(ProblemDeploy, fmt.Errorf("making the fallback certificate: %w", err))
				continue
			}
			if wrote {
				it.changed = true
			}
			src = CertFallback
		}
		path := apacheSnippetPath(r.opts.ApacheDir, it.name)
		changed, err := writeIfChanged(path, ApacheSnippet(&it.rec.MD, r.opts.StoreDir, src), 0o644)
		if err != nil {
			it.fail(ProblemDeploy, fmt.Errorf("writing Apache snippet: %w", err))
			continue
		}
		ensureInstall(it.rec).Apache = path
		if changed {
			it.changed = true
		}
	}
}

// reloadAndVerify runs the reload command once if anything changed, then
// checks what the server serves.
func (r *runner) reloadAndVerify(ctx context.Context) {
	var changed []*item
	argv := r.opts.ReloadCmd
	for _, it := range r.items {
		if !it.changed {
			continue
		}
		changed = append(changed, it)
		if len(argv) == 0 && it.rec.Settings != nil && len(it.rec.Settings.ReloadCmd) > 0 {
			argv = it.rec.Settings.ReloadCmd
		}
	}
	if len(changed) == 0 {
		return
	}
	if len(argv) == 0 {
		r.opts.Log.Infof("no reload command: the server picks up the new certificates at its next reload")
		return
	}
	r.opts.Log.Infof("reloading: %s", strings.Join(argv, " "))
	if err := runReload(ctx, argv, r.opts.ReloadTimeout, r.opts.Log); err != nil {
		for _, it := range changed {
			it.unconfirmed = true
			it.fail(ProblemReload, fmt.Errorf("%w; the new certificate is live in the store but the server was not reloaded (the next run tries again)", err))
			r.logInstallError(ctx, it)
		}
		return
	}
	for _, it := range changed {
		ensureInstall(it.rec).Reloaded = true
	}
	if r.opts.NoVerify {
		for _, it := range changed {
			it.confirmed = true
		}
		return
	}
	var wg sync.WaitGroup
	for _, it := range changed {
		if !it.liveOK {
			continue
		}
		wg.Add(1)
		go func(it *item) {
			defer wg.Done()
			r.verify(ctx, it)
		}(it)
	}
	wg.Wait()
}

func (r *runner) verify(ctx context.Context, it *item) {
	ts := verifyTargets(it.rec, r.opts.VerifyAddr)
	if len(ts) == 0 {
		return
	}
	want, old := map[string]bool{}, map[string]bool{}
	for _, c := range it.live {
		want[Fingerprint(c.leaf())] = true
	}
	if it.set != nil {
		// the previous live set is what a server that did not reload serves
		if prev, ok := r.previous(ctx, it); ok {
			for _, fp := range prev {
				if !want[fp] {
					old[fp] = true
				}
			}
		}
	}
	err := verifyServed(ctx, ts, want, old, r.opts.VerifyTimeout, r.opts.VerifyInterval)
	served := err == nil
	ensureInstall(it.rec).Served = &served
	if served {
		it.confirmed = true
		return
	}
	it.unconfirmed = true
	it.fail(ProblemNotServed, fmt.Errorf("the server does not serve the new certificate after the reload: %v; check that the vhost includes the md-install snippet or uses the deploy files, and that the reload command reloads this server (the next run reloads and checks again)", err))
	r.logInstallError(ctx, it)
}

// logInstallError puts the item's error into the MD's job log and raises
// "errored".
func (r *runner) logInstallError(ctx context.Context, it *item) {
	if !it.locked {
		unlock, err := r.st.Lock(ctx, it.name, r.opts.LockWait)
		if err != nil {
			return
		}
		it.unlock, it.locked = unlock, true
	}
	job, err := r.st.LoadJob(ctx, store.GroupDomains, it.name)
	if err != nil {
		return
	}
	job.AddLog(r.now, "install-error", it.err.Problem, it.err.Detail)
	r.raise(ctx, it, job, "errored")
	if err := r.st.SaveJob(ctx, store.GroupDomains, it.name, job); err != nil {
		r.opts.Log.Warnf("%s: writing job log: %v", it.name, err)
	}
}

// notePending records which MDs still wait for a confirmed reload.
func (r *runner) notePending(ctx context.Context) {
	add, remove := map[string]bool{}, map[string]bool{}
	for _, it := range r.items {
		switch {
		case it.unconfirmed:
			add[it.name] = true
		case it.confirmed:
			remove[it.name] = true
		}
	}
	if err := updatePending(ctx, r.st, add, remove); err != nil {
		r.opts.Log.Warnf("recording MDs that wait for a reload: %v", err)
	}
}

// previous returns the fingerprints of the set that was live before this
// run's activation.
func (r *runner) previous(ctx context.Context, it *item) ([]string, bool) {
	if it.archive == "" {
		return nil, false
	}
	var fps []string
	for _, spec := range it.specs {
		chain, err := r.st.LoadChain(ctx, store.GroupArchive, it.archive, spec.FileName("pubcert"))
		if err != nil {
			continue
		}
		fps = append(fps, Fingerprint(chain[0]))
	}
	return fps, len(fps) > 0
}

// report fills the record's install section and error.
func (r *runner) report(it *item) {
	in := ensureInstall(it.rec)
	in.Action, in.Reason = it.action, it.reason
	if it.action == "activated" {
		in.At = md.NewTime(r.now)
		in.Archive = it.archive
		in.Account = it.account
	}
	if !it.readyAt.IsZero() {
		in.ReadyAt = md.NewTime(it.readyAt)
	}
	in.Certs = nil
	for _, c := range it.live {
		in.Certs = append(in.Certs, renew.CertInfo(c.spec, c.leaf()))
	}
	noteUntil(r.opts.Notes, it, r.now)
	if it.err != nil {
		if it.rec.Error == nil || it.rec.Error.Stage == "install" {
			it.rec.Error = it.err
		} else {
			in.Reason = strings.TrimPrefix(in.Reason+"; "+it.err.Detail, "; ")
		}
	}
}
