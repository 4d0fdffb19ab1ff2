package install

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// The crash tests re-execute the test binary as a child that runs an
// activation and SIGKILLs itself right after a given step; the parent then
// checks the store and finishes with a normal run.
const childEnv = "MDTOOLS_INSTALL_TEST_CHILD"

func runChild(ctx context.Context) int {
	dir, recFile, step := os.Getenv("CHILD_STORE"), os.Getenv("CHILD_RECORDS"), os.Getenv("CHILD_CRASH_AT")
	sleepAt := os.Getenv("CHILD_SLEEP_AT")
	testHook = func(s, name string) {
		if s == step {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		if s == sleepAt {
			holdUntilReleased() // hold the locks while another run starts
		}
	}
	wait := 10 * time.Second
	if w, err := time.ParseDuration(os.Getenv("CHILD_WAIT")); err == nil {
		wait = w
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		return 10
	}
	data, err := os.ReadFile(recFile)
	if err != nil {
		return 11
	}
	var recs []*md.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		r := &md.Record{}
		if err := json.Unmarshal([]byte(line), r); err != nil {
			return 12
		}
		recs = append(recs, r)
	}
	err = Run(context.Background(), Options{Store: st, NoVerify: true, LockWait: wait}, recs)
	if errors.Is(err, store.ErrLocked) {
		return 3
	}
	if err != nil {
		return 13
	}
	out, _ := json.Marshal(recs[0])
	os.Stdout.Write(append(out, '\n'))
	return 0
}

// crashSteps are the points after which the child dies.
var crashSteps = []string{"checked", "tmp-written", "account-saved", "before-promote", "promoted", "deploy-flipped", "deployed", "job-saved", "purged"}

func TestCrashAtEveryStepThenRerun(t *testing.T) {
	t.Parallel()
	rec := testRecord("c.test", md.KeySpecs{ecSpec}, "c.test", "www.c.test")
	oldCreds := freshCreds(t, rec)
	newCreds := freshCreds(t, rec)
	oldFP, newFP := Fingerprint(oldCreds[0].chain[0]), Fingerprint(newCreds[0].chain[0])
	acctKey := newKey(t, ecSpec)

	setup := func(t *testing.T) (*store.Store, string, *md.Record) {
		st, dir := openStore(t)
		r := testRecord("c.test", md.KeySpecs{ecSpec}, "c.test", "www.c.test")
		r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(t.TempDir(), "deploy", "c.test")}}
		cmd, _ := messageCmd(t)
		r.Settings = &md.Settings{MessageCmd: cmd}
		stageSet(t, st, r, oldCreds)
		if err := run(t, st, time.Now(), r); err != nil || r.Error != nil {
			t.Fatalf("first activation: %v %+v", err, r.Error)
		}
		r.Install = nil
		stageSet(t, st, r, newCreds)
		acct := `{"status":"valid","url":"https://127.0.0.1:14000/my-account/7","ca-url":"https://127.0.0.1:14000/dir"}`
		if err := st.Write(t.Context(), store.GroupStaging, r.Name, store.FileAccount, []byte(acct)); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveKey(t.Context(), store.GroupStaging, r.Name, store.FileAccountKey, acctKey); err != nil {
			t.Fatal(err)
		}
		return st, dir, r
	}
	child := func(t *testing.T, dir string, r *md.Record, step string) ([]byte, error) {
		b, _ := json.Marshal(r)
		recFile := filepath.Join(t.TempDir(), "recs.jsonl")
		if err := os.WriteFile(recFile, append(b, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_STORE="+dir, "CHILD_RECORDS="+recFile, "CHILD_CRASH_AT="+step)
		return cmd.Output()
	}
	crash := func(t *testing.T, dir string, r *md.Record, step string) {
		out, err := child(t, dir, r, step)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die at %s: %v\n%s", step, err, out)
		}
	}
	// liveComplete checks domains/c.test is one whole set, old or new.
	liveComplete := func(t *testing.T, st *store.Store) string {
		m, err := st.LoadMD(t.Context(), store.GroupDomains, "c.test")
		if err != nil {
			t.Fatalf("live md.json: %v", err)
		}
		key, err := st.LoadKey(t.Context(), store.GroupDomains, "c.test", ecSpec.FileName("privkey"))
		if err != nil {
			t.Fatalf("live key: %v", err)
		}
		chain, err := st.LoadChain(t.Context(), store.GroupDomains, "c.test", ecSpec.FileName("pubcert"))
		if err != nil {
			t.Fatalf("live cert: %v", err)
		}
		if !publicKeysEqual(key.Public(), chain[0].PublicKey) {
			t.Fatalf("live key and cert do not match: a mixed set")
		}
		fp := Fingerprint(chain[0])
		if fp != oldFP && fp != newFP {
			t.Fatalf("live cert is neither the old nor the new one")
		}
		if m.State != md.StateComplete {
			t.Fatalf("live md.json state %d", m.State)
		}
		return fp
	}
	// finish reruns md-install's activation in a process of its own, which
	// must exit 0 and converge silently, leaving nothing behind.
	finish := func(t *testing.T, st *store.Store, dir string, r *md.Record) {
		r.Install, r.Error = nil, nil
		out, err := child(t, dir, r, "")
		if err != nil {
			t.Fatalf("rerun did not exit 0: %v\n%s", err, out)
		}
		if err := json.Unmarshal(out, r); err != nil {
			t.Fatalf("rerun output %q: %v", out, err)
		}
		if r.Error != nil {
			t.Fatalf("rerun error: %+v", r.Error)
		}
		noLitter(t, dir, filepath.Dir(r.Host.Deploy.Dir))
		if fp := liveComplete(t, st); fp != newFP {
			t.Fatalf("after the rerun the live cert is still the old one (action %q)", r.Install.Action)
		}
		for _, g := range []store.Group{store.GroupStaging, store.GroupTmp} {
			if names, _ := st.List(t.Context(), g); len(names) != 0 {
				t.Errorf("%s not empty after rerun: %v", g, names)
			}
		}
		archives, _ := st.List(t.Context(), store.GroupArchive)
		foundOld := false
		for _, a := range archives {
			if chain, err := st.LoadChain(t.Context(), store.GroupArchive, a, ecSpec.FileName("pubcert")); err == nil && Fingerprint(chain[0]) == oldFP {
				foundOld = true
			}
			if st.Exists(t.Context(), store.GroupArchive, a, ".superseded") {
				t.Errorf("archive/%s keeps the superseded marker", a)
			}
		}
		if !foundOld {
			t.Errorf("old set not archived: %v", archives)
		}
		if st.Exists(t.Context(), store.GroupDomains, "c.test", ".superseded") {
			t.Errorf("live set carries a superseded marker")
		}
		m, _ := st.LoadMD(t.Context(), store.GroupDomains, "c.test")
		if m.CA.Account != "ACME-127.0.0.1-0000" {
			t.Errorf("ca.account = %q", m.CA.Account)
		}
		if ids, _ := st.List(t.Context(), store.GroupAccounts); len(ids) != 1 {
			t.Errorf("accounts: %v (the staged account saved more than once)", ids)
		}
		d := r.Host.Deploy
		live, _ := loadLive(t.Context(), st, "c.test", md.KeySpecs{ecSpec})
		if !deployCurrent(d, "c.test", live) {
			t.Errorf("deploy set is not the live cert")
		}
		entries, _ := os.ReadDir(filepath.Dir(d.Dir))
		if len(entries) != 2 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("deploy dir has stale sets: %v", names)
		}
		job, _ := st.LoadJob(t.Context(), store.GroupDomains, "c.test")
		if _, ok := job.LastEntry("message-installed"); !ok {
			t.Errorf("no installed event in the job log")
		}
		for _, typ := range []string{"message-errored", "install-error"} {
			if e, ok := job.LastEntry(typ); ok {
				t.Errorf("the rerun logged %s: %+v", typ, e)
			}
		}
		if evs := strings.Join(events(t, filepath.Join(filepath.Dir(r.Settings.MessageCmd[0]), "events.log")), "|"); strings.Contains(evs, "errored") {
			t.Errorf("events %q: an errored event for a set that went live", evs)
		}
	}

	for _, step := range crashSteps {
		t.Run("kill after "+step, func(t *testing.T) {
			st, dir, r := setup(t)
			crash(t, dir, r, step)
			liveComplete(t, st)
			finish(t, st, dir, r)
		})
		// The same kill while some writer was between creating its temp
		// file and renaming it (what a kill inside any store write leaves
		// in every set it could be writing).
		t.Run("kill after "+step+" with temp files", func(t *testing.T) {
			st, dir, r := setup(t)
			crash(t, dir, r, step)
			// md-install writes domains/c.test only while staging/c.test
			// exists (it purges staging last)
			_, err := os.Stat(filepath.Join(dir, "staging/c.test"))
			staged := err == nil
			for _, set := range []string{"staging/c.test", "domains/c.test", "tmp/c.test"} {
				if _, err := os.Stat(filepath.Join(dir, set)); err == nil && (staged || set != "domains/c.test") {
					plant(t, filepath.Join(dir, set, ".job.json.0123456789ab.tmp"))
				}
			}
			liveComplete(t, st)
			finish(t, st, dir, r)
		})
	}
	// Inside purging staging/c.test after the new set went live: this
	// md-install renames the set away first (a kill leaves a hidden trash
	// directory); an older one deleted it file by file (a kill left a
	// staged set without md.json and job.json, once rejected as
	// install-invalid-staging with an errored event).
	for _, inside := range []string{"renamed away", "half deleted"} {
		t.Run("kill inside purge: "+inside, func(t *testing.T) {
			st, dir, r := setup(t)
			crash(t, dir, r, "job-saved")
			staging := filepath.Join(dir, "staging", "c.test")
			if inside == "renamed away" {
				trash := filepath.Join(dir, "staging", ".c.test.0123456789ab.purge")
				if err := os.Rename(staging, trash); err != nil {
					t.Fatal(err)
				}
				_ = os.Remove(filepath.Join(trash, store.FileMD))
			} else {
				for _, f := range []string{store.FileMD, store.FileAccount} {
					if err := os.Remove(filepath.Join(staging, f)); err != nil {
						t.Fatal(err)
					}
				}
			}
			liveComplete(t, st)
			finish(t, st, dir, r)
		})
	}
	// Inside store.Promote: the marker is written but the exchange did
	// not happen, and the exchange happened but the old set is not archived.
	for _, inside := range []string{"marker written", "exchanged"} {
		t.Run("kill inside promote: "+inside, func(t *testing.T) {
			st, dir, r := setup(t)
			crash(t, dir, r, "before-promote")
			b := st.Backend()
			if err := b.Write(t.Context(), store.GroupDomains, "c.test", ".superseded", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if inside == "exchanged" {
				if err := b.Exchange(t.Context(), store.GroupTmp, "c.test", store.GroupDomains, "c.test"); err != nil {
					t.Fatal(err)
				}
			}
			liveComplete(t, st)
			finish(t, st, dir, r)
		})
	}
}

// plant writes a file as a writer killed before its rename leaves it.
func plant(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noLitter fails for anything a killed run could leave behind in the
// store or the deploy directory: temp files of atomic writes, purge
// trash, temporary deploy links, deploy sets the symlink does not name.
func noLitter(t *testing.T, storeDir, deployDir string) {
	t.Helper()
	for _, root := range []string{storeDir, deployDir} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			n := d.Name()
			if strings.HasSuffix(n, ".tmp") || strings.HasSuffix(n, ".purge") || strings.HasSuffix(n, ".link") {
				t.Errorf("left behind: %s", p)
			}
			return nil
		})
	}
	entries, _ := os.ReadDir(deployDir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name, ok := hiddenSetOf(e.Name())
		if target, _ := os.Readlink(filepath.Join(deployDir, name)); !ok || target != e.Name() {
			t.Errorf("orphaned deploy set (an old private key) left: %s", filepath.Join(deployDir, e.Name()))
		}
	}
}

func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	rec := testRecord("p.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	for _, tc := range []struct {
		name string
		wait time.Duration
	}{{"second waits", 10 * time.Second}, {"second gives up", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := openStore(t)
			stageSet(t, st, rec, creds)
			// hold the MD lock as a first run would, then start two runs
			unlock, err := st.Lock(context.Background(), "p.test", 0)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			recs := []*md.Record{testRecord("p.test", md.KeySpecs{ecSpec}), testRecord("p.test", md.KeySpecs{ecSpec})}
			errs := make([]error, 2)
			for i := range recs {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					errs[i] = Run(context.Background(), Options{Store: st, NoVerify: true, LockWait: tc.wait}, recs[i:i+1])
				}(i)
			}
			if tc.wait < 0 {
				wg.Wait() // both tried once while the lock was held
				unlock()
			} else {
				// likely both waiting now; if not, the later one still
				// finds nothing to do
				time.Sleep(300 * time.Millisecond)
				unlock()
				wg.Wait()
			}
			actions := map[string]int{}
			for i, r := range recs {
				actions[r.Install.Action]++
				if errs[i] != nil && !errors.Is(errs[i], store.ErrLocked) {
					t.Errorf("run %d: %v", i, errs[i])
				}
			}
			if tc.wait > 0 {
				if actions["activated"] != 1 || actions["none"] != 1 || errs[0] != nil || errs[1] != nil {
					t.Errorf("actions %v errors %v; want one activation and one no-op", actions, errs)
				}
			} else if actions["failed"] != 2 || !errors.Is(errs[0], store.ErrLocked) {
				t.Errorf("actions %v errors %v; want both locked out", actions, errs)
			}
			if tc.wait < 0 {
				// nothing happened; a normal run activates it
				r := testRecord("p.test", md.KeySpecs{ecSpec})
				if err := run(t, st, time.Now(), r); err != nil || r.Install.Action != "activated" {
					t.Fatalf("%v %+v", err, r.Install)
				}
			}
			if got := liveFingerprint(t, st, "p.test", ecSpec); got != Fingerprint(creds[0].chain[0]) {
				t.Errorf("live cert wrong")
			}
			if names, _ := st.List(t.Context(), store.GroupArchive); len(names) > 1 {
				t.Errorf("activated more than once: %v", names)
			}
		})
	}
}

// holdUntilReleased tells the test the child holds its locks (the file
// $CHILD_READY) and waits for the file $CHILD_GO, a minute at most.
func holdUntilReleased() {
	_ = os.WriteFile(os.Getenv("CHILD_READY"), nil, 0o600)
	fileAppears(os.Getenv("CHILD_GO"))
}

// waitForFile waits for path to exist, failing the test (and killing
// cmd) after a minute.
func waitForFile(t *testing.T, path string, cmd *exec.Cmd) {
	t.Helper()
	if !fileAppears(path) {
		_ = cmd.Process.Kill()
		t.Fatalf("%s did not appear within a minute", path)
	}
}

// fileAppears polls for path for a minute at most and reports whether it
// appeared.
func fileAppears(path string) bool {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

// TestTwoProcessesAtOnce runs two md-install processes on the same staged
// set at the same time: the second waits for the first and finds nothing
// to do, or (with a short wait) exits 3; the store ends with one
// activation either way.
func TestTwoProcessesAtOnce(t *testing.T) {
	t.Parallel()
	rec := testRecord("two.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	for _, tc := range []struct {
		name, wait string
		wantCodes  []int
	}{{"second waits", "10s", []int{0, 0}}, {"second gives up", "100ms", []int{0, 3}}} {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			stageSet(t, st, rec, creds)
			b, _ := json.Marshal(testRecord("two.test", md.KeySpecs{ecSpec}))
			recFile := filepath.Join(t.TempDir(), "recs.jsonl")
			if err := os.WriteFile(recFile, append(b, '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			syncDir := t.TempDir()
			ready, release := filepath.Join(syncDir, "ready"), filepath.Join(syncDir, "go")
			start := func(wait string, env ...string) (*exec.Cmd, *strings.Builder) {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				var out strings.Builder
				cmd.Stdout = &out
				cmd.Env = append(append(os.Environ(), childEnv+"=1", "CHILD_STORE="+dir, "CHILD_RECORDS="+recFile, "CHILD_WAIT="+wait), env...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				return cmd, &out
			}
			exitCode := func(c *exec.Cmd) int {
				if err := c.Wait(); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						t.Fatal(err)
					}
					return ee.ExitCode()
				}
				return 0
			}
			// the first holds the MD's lock in the middle of its
			// activation until the test releases it
			first, out1 := start("10s", "CHILD_SLEEP_AT=tmp-written", "CHILD_READY="+ready, "CHILD_GO="+release)
			waitForFile(t, ready, first)
			second, out2 := start(tc.wait)
			codes := []int{0, 0}
			if tc.wantCodes[1] != 0 {
				codes[1] = exitCode(second) // gives up while the lock is held
			} else {
				time.Sleep(200 * time.Millisecond) // likely waiting on the lock; either way it must find nothing to do
			}
			if err := os.WriteFile(release, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			codes[0] = exitCode(first)
			if tc.wantCodes[1] == 0 {
				codes[1] = exitCode(second)
			}
			if codes[0] != tc.wantCodes[0] || codes[1] != tc.wantCodes[1] {
				t.Fatalf("exit codes %v; want %v (first: %s second: %s)", codes, tc.wantCodes, out1, out2)
			}
			if !strings.Contains(out1.String(), `"action":"activated"`) {
				t.Errorf("first run: %s", out1)
			}
			if tc.wantCodes[1] == 0 && !strings.Contains(out2.String(), `"action":"none"`) {
				t.Errorf("second run: %s", out2)
			}
			if got := liveFingerprint(t, st, "two.test", ecSpec); got != Fingerprint(creds[0].chain[0]) {
				t.Errorf("live cert wrong")
			}
			if names, _ := st.List(t.Context(), store.GroupArchive); len(names) != 0 {
				t.Errorf("activated more than once: archives %v", names)
			}
		})
	}
}

// TestWaitingSetSwept: a staged set that waits for its activation delay
// keeps no temp file a killed md-order or md-install left in it; the run
// holding the MD's lock removes it, and leaves the set itself alone.
func TestWaitingSetSwept(t *testing.T) {
	t.Parallel()
	rec := testRecord("ws.test", md.KeySpecs{ecSpec})
	live := freshCreds(t, rec)
	next := freshCreds(t, rec)
	st, dir := openStore(t)
	stageSet(t, st, rec, live)
	if err := run(t, st, live[0].chain[0].NotBefore.Add(time.Minute), testRecord("ws.test", md.KeySpecs{ecSpec})); err != nil {
		t.Fatal(err)
	}
	stageSet(t, st, rec, next)
	temp := filepath.Join(dir, "staging", "ws.test", ".order.json.0123456789ab.tmp")
	plant(t, temp)
	r := testRecord("ws.test", md.KeySpecs{ecSpec})
	r.Settings = &md.Settings{ActivationDelay: "2d"}
	if err := run(t, st, next[0].chain[0].NotBefore.Add(time.Hour), r); err != nil {
		t.Fatal(err)
	}
	if r.Install.Action != "waiting" || r.Error != nil {
		t.Fatalf("install %+v error %+v", r.Install, r.Error)
	}
	if _, err := os.Stat(temp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file in the waiting set not swept: %v", err)
	}
	if !st.Exists(t.Context(), store.GroupStaging, "ws.test", store.FileMD) {
		t.Error("the waiting set itself was touched")
	}
}
