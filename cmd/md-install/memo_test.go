package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo/memotest"
	"github.com/mdtools/mdtools/lib/store"
)

// TestMemoInstall is issue 17's proof for md-install's memo, over store
// and deploy changes made after the memo was written: the MD that changed
// is worked on (a new staged set activated, a removed deployed certificate
// written again, an interrupted activation looked at), the others are
// replayed, and a run without the memo right after agrees with every
// answer.
func TestMemoInstall(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir, deploy := t.TempDir(), t.TempDir()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []*md.Record
	for _, name := range []string{"a.test", "b.test", "c.test"} {
		rec := &md.Record{MD: md.MD{Name: name, Domains: []string{name}, PrivKey: md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}, RenewMode: md.RenewAuto},
			Host: &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deploy, name)}}}
		stage(t, ca, st, rec)
		recs = append(recs, rec)
	}
	args := []string{"--store", dir, "--no-verify", "-v"}
	run := func(step, wantHits string, want map[string]string) []*md.Record {
		t.Helper()
		code, out, stderr := runInstall(t, recs, args...)
		if code != cli.ExitOK {
			t.Fatalf("%s: exit %d\n%s", step, code, stderr)
		}
		if h := memotest.Hits(stderr); h != wantHits {
			t.Errorf("%s: %s records answered from the memo, want %s\n%s", step, h, wantHits, stderr)
		}
		for _, r := range out {
			action := want[r.Name]
			if action == "" {
				action = "none"
			}
			if r.Install == nil || r.Install.Action != action || r.Error != nil {
				t.Errorf("%s: %s: install %+v error %+v, want %s", step, r.Name, r.Install, r.Error, action)
			}
		}
		return out
	}
	// settled: the memo is written, then used
	settle := func(step string) {
		t.Helper()
		memotest.Age(t, dir, deploy)
		run(step+": writing the memo", "0", nil)
		run(step+": replayed", "3", nil)
	}
	// without: a run without the memo agrees with the last one
	without := func(step string, last []*md.Record) {
		t.Helper()
		t.Setenv(cli.NoMemoEnv, "1")
		defer os.Unsetenv(cli.NoMemoEnv)
		_, out, stderr := runInstall(t, recs, args...)
		if h := memotest.Hits(stderr); h != "none" {
			t.Errorf("%s: with %s set the memo was used", step, cli.NoMemoEnv)
		}
		for i, r := range out {
			w, o := last[i].Install, r.Install
			if o.Action != "none" || len(o.Certs) != len(w.Certs) || o.Certs[0].SHA256 != w.Certs[0].SHA256 || o.Deploy != w.Deploy {
				t.Errorf("%s: %s: without the memo %+v, with %+v", step, r.Name, o, w)
			}
		}
	}
	run("activation", "0", map[string]string{"a.test": "activated", "b.test": "activated", "c.test": "activated"})
	settle("activated")

	cert := filepath.Join(deploy, "a.test", md.KeySpec{Type: md.KeyEC, Curve: "P-256"}.FileName("cert"))
	if err := os.Remove(cert); err != nil {
		t.Fatal(err)
	}
	out := run("deployed certificate removed", "2", nil)
	if _, err := os.Stat(cert); err != nil {
		t.Errorf("the removed deployed certificate was not written again: %v", err)
	}
	without("deployed certificate removed", out)

	settle("redeployed")
	stage(t, ca, st, recs[1])
	out = run("new staged set", "2", map[string]string{"b.test": "activated"})
	without("new staged set", out)

	settle("activated again")
	if err := os.MkdirAll(filepath.Join(dir, "tmp", "c.test"), 0o700); err != nil {
		t.Fatal(err)
	}
	out = run("interrupted activation", "2", nil)
	without("interrupted activation", out)
}
