package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// messageCmd writes a script that appends its argv to a log file, as the
// MDMessageCmd of mod_md's test suite does.
func messageCmd(t *testing.T) (argv []string, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "events.log")
	script := filepath.Join(dir, "msg.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{script, "LOG"}, log
}

func events(t *testing.T, log string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestEventsInstalledAndErrored(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	cmd, log := messageCmd(t)
	rec := testRecord("e.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)
	rec.Settings = &md.Settings{MessageCmd: cmd}
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	// a bad staged set: errored
	bad := testRecord("e.test", md.KeySpecs{ecSpec})
	bad.Settings = rec.Settings
	stageSet(t, st, bad, []stagedCred{{spec: ecSpec, key: newKey(t, ecSpec), chain: creds[0].chain}})
	if err := run(t, st, time.Now(), bad); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(events(t, log), "|")
	if got != "LOG installed e.test|LOG errored e.test" {
		t.Errorf("events %q", got)
	}
	job, _ := st.LoadJob(t.Context(), store.GroupDomains, "e.test")
	for _, typ := range []string{"message-installed", "message-errored", "install-error"} {
		if _, ok := job.LastEntry(typ); !ok {
			t.Errorf("job log lacks %s", typ)
		}
	}
}

func TestExpiringOncePerDay(t *testing.T) {
	t.Parallel()
	rec := testRecord("x.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	leaf := creds[0].chain[0]
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	half := md.MustTimeslice("50%")
	tests := []struct {
		name      string
		mode      int
		settings  bool // from md-parse: settings present, no vhost
		vhost     bool
		wantWatch bool
	}{
		{"auto with vhost", md.RenewAuto, true, true, true},
		{"manual without vhost", md.RenewManual, true, false, true},
		{"auto unused", md.RenewAuto, true, false, false},
		{"from the store", md.RenewAuto, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := openStore(t)
			cmd, log := messageCmd(t)
			stageSet(t, st, rec, creds)
			if err := run(t, st, time.Now(), testRecord("x.test", md.KeySpecs{ecSpec})); err != nil {
				t.Fatal(err)
			}
			mk := func() *md.Record {
				r := testRecord("x.test", md.KeySpecs{ecSpec})
				r.RenewMode, r.WarnWindow = tc.mode, &half
				if tc.settings {
					r.Settings = &md.Settings{MessageCmd: cmd}
				}
				if tc.vhost {
					r.Vhosts = []md.Vhost{{ServerName: "x.test", SSL: true}}
				}
				if tc.settings {
					// md-parse's verdict: an auto MD without a vhost is not watched
					w := tc.vhost || tc.mode != md.RenewAuto
					r.Watched = &w
				}
				return r
			}
			t0 := leaf.NotBefore.Add(life * 55 / 100)
			if !tc.settings {
				// a store-only record carries no settings: no command, the job log still shows it
				cmd = nil
			}
			var flags []bool
			for _, now := range []time.Time{leaf.NotBefore.Add(life / 4), t0, t0.Add(time.Hour), t0.Add(25 * time.Hour)} {
				r := mk()
				if err := run(t, st, now, r); err != nil {
					t.Fatal(err)
				}
				flags = append(flags, r.Install.Expiring)
			}
			job, _ := st.LoadJob(t.Context(), store.GroupStaging, "x.test") // the renewal job, shared with md-order
			n := 0
			for _, e := range job.Log.Entries {
				if e.Type == "message-expiring" {
					n++
				}
			}
			want := 0
			if tc.wantWatch {
				want = 2 // at t0 and a day later, not an hour later
			}
			if n != want {
				t.Errorf("%d expiring entries in the job log; want %d", n, want)
			}
			if tc.wantWatch && flags[0] || tc.wantWatch && !flags[1] {
				t.Errorf("install.expiring over time: %v", flags)
			}
			if tc.settings && tc.wantWatch {
				if got := strings.Join(events(t, log), "|"); got != "LOG expiring x.test|LOG expiring x.test" {
					t.Errorf("message command calls %q", got)
				}
			}
		})
	}
}

// md-order raises "expiring" in the same renewal job: md-install does not
// repeat it the same day.
func TestExpiringSharedWithMdOrder(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	cmd, log := messageCmd(t)
	rec := testRecord("s.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)
	if err := run(t, st, time.Now(), testRecord("s.test", md.KeySpecs{ecSpec})); err != nil {
		t.Fatal(err)
	}
	leaf := creds[0].chain[0]
	now := leaf.NotAfter.Add(-time.Hour)
	job := &md.Job{Name: "s.test"}
	job.AddLog(now.Add(-2*time.Hour), "message-expiring", "", "")
	if err := st.SaveJob(t.Context(), store.GroupStaging, "s.test", job); err != nil {
		t.Fatal(err)
	}
	r := testRecord("s.test", md.KeySpecs{ecSpec})
	r.Settings = &md.Settings{MessageCmd: cmd}
	r.Vhosts = []md.Vhost{{ServerName: "s.test", SSL: true}}
	if err := run(t, st, now, r); err != nil {
		t.Fatal(err)
	}
	if !r.Install.Expiring || r.Install.Action != "none" || r.Install.Reason != "" {
		t.Errorf("install %+v", r.Install)
	}
	if got := events(t, log); len(got) != 0 {
		t.Errorf("md-install repeated md-order's expiring event: %v", got)
	}
}

// A reload that hangs is killed after its timeout: an error on the record,
// the MD stays pending, and the next run reloads it although nothing new
// is staged.
func TestReloadTimeoutAndPending(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	rec := testRecord("t.test", md.KeySpecs{ecSpec})
	stageSet(t, st, rec, freshCreds(t, rec))
	marker := filepath.Join(t.TempDir(), "reloaded")
	opts := func(reload []string, timeout time.Duration) Options {
		return Options{Store: st, NoVerify: true, ReloadCmd: reload, ReloadTimeout: timeout, LockWait: time.Second}
	}
	start := time.Now()
	r1 := testRecord("t.test", md.KeySpecs{ecSpec})
	if err := Run(context.Background(), opts([]string{"sleep", "30"}, 500*time.Millisecond), []*md.Record{r1}); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("the hanging reload was not killed")
	}
	if r1.Install.Action != "activated" || r1.Error == nil || r1.Error.Problem != ProblemReload || !strings.Contains(r1.Error.Detail, "timed out") {
		t.Fatalf("install %+v error %+v", r1.Install, r1.Error)
	}
	if got := readPending(t.Context(), st); !got["t.test"] {
		t.Fatalf("t.test not pending after a failed reload: %v", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, filePending))
	if !strings.Contains(string(data), `"t.test"`) {
		t.Errorf("%s: %s", filePending, data)
	}
	// nothing staged now; the pending MD is reloaded, then forgotten
	r2 := testRecord("t.test", md.KeySpecs{ecSpec})
	if err := Run(context.Background(), opts([]string{"/bin/sh", "-c", "touch " + marker}, time.Minute), []*md.Record{r2}); err != nil {
		t.Fatal(err)
	}
	if r2.Install.Action != "none" || !r2.Install.Reloaded || r2.Error != nil {
		t.Fatalf("rerun: install %+v error %+v", r2.Install, r2.Error)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("reload command did not run: %v", err)
	}
	if got := readPending(t.Context(), st); got["t.test"] {
		t.Errorf("t.test still pending")
	}
	// and a third run has nothing to reload
	os.Remove(marker)
	r3 := testRecord("t.test", md.KeySpecs{ecSpec})
	if err := Run(context.Background(), opts([]string{"/bin/sh", "-c", "touch " + marker}, time.Minute), []*md.Record{r3}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil || r3.Install.Reloaded {
		t.Errorf("reloaded with nothing changed")
	}
}

// memWarnings is a logger.Logger that keeps the warnings.
type memWarnings struct {
	mu    sync.Mutex
	warns []string
}

func (l *memWarnings) Infof(string, ...any)  {}
func (l *memWarnings) Debugf(string, ...any) {}
func (l *memWarnings) Warnf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns = append(l.warns, fmt.Sprintf(f, a...))
}

// Many MDs in their warn window at once (issued the same day, a CA down
// for weeks) warn three times and are counted in one line, not a line
// each.
func TestExpiringWarningsAlike(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	var recs []*md.Record
	// 7 MDs over at most 2 expiry days: 4 or more share one
	for i := range 7 {
		rec := testRecord(fmt.Sprintf("w%d.test", i), md.KeySpecs{ecSpec})
		stageSet(t, st, rec, freshCreds(t, rec))
		recs = append(recs, rec)
	}
	if err := run(t, st, time.Now(), recs...); err != nil {
		t.Fatal(err)
	}
	log := &memWarnings{}
	// Pebble gives some orders 6-day certificates: a warn window of 99 %
	// puts every MD in it
	var again []*md.Record
	ws := md.MustTimeslice("99%")
	for _, r := range recs {
		a := testRecord(r.Name, md.KeySpecs{ecSpec})
		a.WarnWindow = &ws
		again = append(again, a)
	}
	at := time.Now().Add(25 * time.Hour) // 1 % of 90 days is 21.6 hours
	if err := Run(t.Context(), Options{Store: st, Now: func() time.Time { return at }, NoVerify: true, Log: log}, again); err != nil {
		t.Fatal(err)
	}
	// warnings alike: the same expiry day (Pebble gives 6 or 90 days)
	perDay := map[string]int{}
	for _, r := range again {
		if r.Install != nil && len(r.Install.Certs) > 0 {
			perDay[r.Install.Certs[0].Valid.Until.UTC().Format("02 Jan 2006")]++
		}
	}
	wantShown, wantCounted := 0, 0
	for _, n := range perDay {
		wantShown += min(n, 3)
		if n > 3 {
			wantCounted++
		}
	}
	shown, counted := 0, 0
	for _, w := range log.warns {
		switch {
		case strings.Contains(w, ": the certificate expires on ") && strings.HasPrefix(w, "w"):
			shown++
		case strings.Contains(w, " more MDs warned alike: <name>: the certificate expires on "):
			counted++
		}
	}
	if shown != wantShown || counted != wantCounted {
		t.Errorf("%d expiring warnings shown, %d count lines; want %d and %d (expiry days %v):\n%s", shown, counted, wantShown, wantCounted, perDay, strings.Join(log.warns, "\n"))
	}
	for _, r := range again {
		if r.Install == nil || !r.Install.Expiring {
			t.Errorf("%s: install %+v; want expiring", r.Name, r.Install)
		}
	}
}
