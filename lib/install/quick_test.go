package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// quickState is a store state for TestQuickDecidesAsRun: setup runs after
// the live set (creds) was activated, at the run's time.
type quickState struct {
	name   string
	quick  bool // Quick answers it
	deploy bool // the live set was deployed by the activating run
	record func(rec *md.Record, root string)
	setup  func(t *testing.T, st *store.Store, root string, rec *md.Record)
	late   bool // the run is in the last hour of the certificate
}

// Quick is the fast path of md-install's stream (a record answered alone,
// as it comes), Run the slow one (records held for one batch). Over a
// table of store states, Quick answers exactly the states where Run has
// nothing to do, and then as Run does: the same record, the same store;
// where it does not answer, it leaves the record and the store untouched
// and Run after it gives what Run alone gives.
func TestQuickDecidesAsRun(t *testing.T) {
	base := testRecord("q.test", md.KeySpecs{ecSpec})
	live, next := freshCreds(t, base), freshCreds(t, base)
	deployTo := func(rec *md.Record, root string) {
		rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(root, "deploy", rec.Name)}}
	}
	states := []quickState{
		{name: "live, nothing to do", quick: true},
		{name: "deployed and current", quick: true, deploy: true, record: deployTo},
		{name: "a deploy dir not written yet", record: deployTo},
		{name: "an orphan deploy set beside the current one", deploy: true, record: deployTo,
			setup: func(t *testing.T, _ *store.Store, root string, rec *md.Record) {
				mkdir(t, filepath.Join(root, "deploy", "."+rec.Name+orphanSet))
			}},
		{name: "a renewed set staged", setup: func(t *testing.T, st *store.Store, _ string, rec *md.Record) {
			stageSet(t, st, rec, next)
		}},
		{name: "a half-done activation in tmp", setup: func(t *testing.T, st *store.Store, _ string, rec *md.Record) {
			if err := st.Write(t.Context(), store.GroupTmp, rec.Name, "pubcert.pem", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a reload still pending", setup: func(t *testing.T, st *store.Store, _ string, rec *md.Record) {
			if err := updatePending(t.Context(), st, map[string]bool{rec.Name: true}, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "in the warn window, the event due", late: true},
		// the event is logged in the renewal job, staging/<md>/job.json
		{name: "in the warn window, the event raised today", late: true,
			setup: func(t *testing.T, st *store.Store, _ string, rec *md.Record) {
				job := &md.Job{Name: rec.Name}
				job.AddLog(live[0].chain[0].NotAfter.Add(-2*time.Hour), "message-expiring", "", "")
				if err := st.SaveJob(t.Context(), store.GroupStaging, rec.Name, job); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "failed in md-order, live set fine", quick: true, record: func(rec *md.Record, _ string) {
			rec.Error = &md.StageError{Stage: "order", Problem: "urn:ietf:params:acme:error:serverInternal", Detail: "the CA is down"}
		}},
		{name: "an install error of an earlier run", quick: true, record: func(rec *md.Record, _ string) {
			rec.Error = &md.StageError{Stage: "install", Problem: ProblemReload, Detail: "old"}
			rec.Install = &md.InstallResult{Action: "failed"}
		}},
		{name: "no live certificate", setup: func(t *testing.T, st *store.Store, _ string, rec *md.Record) {
			if err := st.Purge(t.Context(), store.GroupDomains, rec.Name); err != nil {
				t.Fatal(err)
			}
		}},
	}
	root := t.TempDir()
	for _, s := range states {
		t.Run(s.name, func(t *testing.T) {
			// one clock for both runs: the records carry the time
			activated := time.Now().Truncate(time.Second)
			slow := runState(t, root, s, live, activated, false)
			fast := runState(t, root, s, live, activated, true)
			if fast.quick != s.quick {
				t.Fatalf("Quick answered: %v, want %v; Run alone gave %s", fast.quick, s.quick, slow.out)
			}
			if !fast.quick && fast.afterQuick != fast.in {
				t.Errorf("Quick changed a record it left for Run:\n%s\nwas\n%s", fast.afterQuick, fast.in)
			}
			if !fast.quick && len(fast.quickWrote) > 0 {
				t.Errorf("Quick wrote %v to the store of a record it left for Run", fast.quickWrote)
			}
			if fast.out != slow.out {
				t.Errorf("record:\nQuick then Run: %s\nRun alone:     %s", fast.out, slow.out)
			}
			if a, b := fast.changed, slow.changed; !slices.Equal(a, b) {
				t.Errorf("store paths changed: Quick then Run %v, Run alone %v", a, b)
			}
			if s.quick && len(slow.changed) > 0 {
				t.Errorf("Run alone changed %v for a state with nothing to do", slow.changed)
			}
		})
	}
}

type stateRun struct {
	quick               bool
	in, afterQuick, out string
	quickWrote, changed []string
}

// runState builds the state in root (emptied first), the live set
// activated at activated, and a minute later runs Run alone (fast false),
// or Quick and, if it does not answer, Run.
func runState(t *testing.T, root string, s quickState, live []stagedCred, activated time.Time, fast bool) stateRun {
	t.Helper()
	ctx := t.Context()
	for _, d := range []string{"store", "deploy"} {
		if err := os.RemoveAll(filepath.Join(root, d)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(ctx, filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	now := activated.Add(time.Minute)
	if s.late {
		now = live[0].chain[0].NotAfter.Add(-time.Hour)
	}
	newRec := func() *md.Record {
		rec := testRecord("q.test", md.KeySpecs{ecSpec})
		if s.deploy && s.record != nil {
			s.record(rec, root)
		}
		return rec
	}
	// the live set, activated (and deployed) before the run
	rec := newRec()
	stageSet(t, st, rec, live)
	if err := Run(ctx, Options{Store: st, Now: func() time.Time { return activated }, NoVerify: true, LockWait: 2 * time.Second}, []*md.Record{rec}); err != nil || rec.Install.Action != "activated" {
		t.Fatalf("activating the live set: %v %+v", err, rec.Install)
	}
	rec = testRecord("q.test", md.KeySpecs{ecSpec})
	if s.record != nil {
		s.record(rec, root)
	}
	if s.setup != nil {
		s.setup(t, st, root, rec)
	}
	before := snapshot(t, root)
	in := encode(t, rec)
	opts := Options{Store: st, Now: func() time.Time { return now }, NoVerify: true, LockWait: 2 * time.Second}
	res := stateRun{in: in}
	inst, err := NewInstaller(opts)
	if err != nil {
		t.Fatal(err)
	}
	if fast {
		res.quick = inst.Quick(context.Background(), rec)
		res.afterQuick = encode(t, rec)
		res.quickWrote = changedPaths(before, snapshot(t, root))
	}
	if !res.quick {
		if err := inst.Run(ctx, []*md.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	res.out = encode(t, rec)
	res.changed = changedPaths(before, snapshot(t, root))
	return res
}

func encode(t *testing.T, rec *md.Record) string {
	t.Helper()
	b, err := rec.Redacted().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snapshot is the store and the deploy dir under root: each path (a
// deploy set's random name made "<set>") with its mode, content or link
// target. Lock files are left out: they are not data.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == filepath.Join("store", "locks") || rel == filepath.Join("store", "store.lock") {
			if fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		v := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			v += " -> " + setNames(target)
		}
		out[setNames(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var deploySet = regexp.MustCompile(`\.[0-9a-f]{12}`)

// orphanSet is the name of the orphan deploy set a state makes.
const orphanSet = ".0123456789ab"

// setNames replaces md-install's random deploy set names in p with
// ".<set>", all but the test's own orphan set: both as "<set>" were one
// path, whose recorded content depended on which random name sorted last.
func setNames(p string) string {
	return deploySet.ReplaceAllStringFunc(p, func(m string) string {
		if m == orphanSet {
			return m
		}
		return ".<set>"
	})
}

// changedPaths lists the paths added, removed or changed from a to b.
func changedPaths(a, b map[string]string) []string {
	var out []string
	for p, v := range a {
		if w, ok := b[p]; !ok || w != v {
			out = append(out, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
}

// A record for an MD that Quick answered is a second record for it, in
// Quick and in Run, as in Run alone; with Apache snippets Quick answers
// nothing (they are written for all records at once).
func TestQuickNameTwice(t *testing.T) {
	st, dir := openStore(t)
	rec := testRecord("twice.test", md.KeySpecs{ecSpec})
	stageSet(t, st, rec, freshCreds(t, rec))
	now := time.Now()
	if err := run(t, st, now, rec); err != nil || rec.Install.Action != "activated" {
		t.Fatalf("activating: %v %+v", err, rec.Install)
	}
	opts := Options{Store: st, Now: func() time.Time { return now.Add(time.Minute) }, NoVerify: true}
	apache := opts
	apache.ApacheDir = filepath.Join(dir, "apache")
	withSnippets, err := NewInstaller(apache)
	if err != nil {
		t.Fatal(err)
	}
	if withSnippets.Quick(t.Context(), testRecord("twice.test", md.KeySpecs{ecSpec})) {
		t.Error("Quick answered a record with --apache-dir")
	}
	inst, err := NewInstaller(opts)
	if err != nil {
		t.Fatal(err)
	}
	first, second := testRecord("twice.test", md.KeySpecs{ecSpec}), testRecord("twice.test", md.KeySpecs{ecSpec})
	if !inst.Quick(t.Context(), first) || first.Install == nil || first.Install.Action != "none" {
		t.Fatalf("Quick on the first record: %+v", first.Install)
	}
	if inst.Quick(t.Context(), second) {
		t.Fatal("Quick answered a second record for the same MD")
	}
	if err := inst.Run(t.Context(), []*md.Record{second}); err != nil {
		t.Fatal(err)
	}
	if second.Error == nil || second.Error.Problem != "install-duplicate" {
		t.Errorf("the second record: error %+v, install %+v; want install-duplicate", second.Error, second.Install)
	}
}

// Quick runs on many records at once (md-install's stream works in
// parallel chunks once records need more than the memo): under -race, on
// MDs with deploy dirs, every one is answered as one at a time would be.
func TestQuickConcurrent(t *testing.T) {
	const n = 8
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("c%d.test", i))
	}
	// one certificate naming all: each MD's set covers its name
	creds := freshCreds(t, testRecord("c0.test", md.KeySpecs{ecSpec}, names...))
	st, dir := openStore(t)
	mk := func(name string) *md.Record {
		rec := testRecord(name, md.KeySpecs{ecSpec})
		rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(dir, "deploy", name)}}
		return rec
	}
	var recs []*md.Record
	for _, name := range names {
		rec := mk(name)
		stageSet(t, st, rec, creds)
		recs = append(recs, rec)
	}
	now := time.Now()
	if err := run(t, st, now, recs...); err != nil {
		t.Fatal(err)
	}
	inst, err := NewInstaller(Options{Store: st, Now: func() time.Time { return now.Add(time.Minute) }, NoVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	again := make([]*md.Record, n)
	var wg sync.WaitGroup
	for i, name := range names {
		again[i] = mk(name)
		wg.Add(1)
		go func(rec *md.Record) {
			defer wg.Done()
			if !inst.Quick(t.Context(), rec) {
				t.Errorf("%s: Quick did not answer", rec.Name)
			}
		}(again[i])
	}
	wg.Wait()
	for _, rec := range again {
		if rec.Install == nil || rec.Install.Action != "none" || rec.Install.Deploy != filepath.Join(dir, "deploy", rec.Name) || len(rec.Install.Certs) != 1 {
			t.Errorf("%s: install %+v", rec.Name, rec.Install)
		}
	}
}
