package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo/memotest"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/staple"
	"github.com/mdtools/mdtools/lib/store"
)

// TestMemoStaple is issue 17's proof for md-staple's memo, with a real
// OCSP responder: after the memo is written, a run replays every MD and
// asks nothing; a removed deployed response or a removed stored response
// makes exactly that MD be worked on again (written again from the store,
// or fetched); a run without the memo agrees with every answer.
func TestMemoStaple(t *testing.T) {
	resp, ca := responder(t, "md-staple memo CA")
	dir, deploy := t.TempDir(), t.TempDir()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lines []string
	ids := map[string]string{}
	for _, name := range []string{"a.test", "b.test", "c.test"} {
		m, chain := installLive(t, st, ca, resp, name)
		var err error
		if ids[name], err = ocspfile.LeafID(chain); err != nil {
			t.Fatal(err)
		}
		// as md-install deploys: a link to the current set
		os.MkdirAll(filepath.Join(deploy, "."+name+".set"), 0o755)
		if err := os.Symlink("."+name+".set", filepath.Join(deploy, name)); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(&md.Record{MD: *m, Order: &md.OrderResult{Action: "none"},
			Host: &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deploy, name)}}})
		lines = append(lines, string(b))
	}
	stdin := strings.Join(lines, "\n") + "\n"
	step := func(step, wantHits string, want map[string]string) []*md.Record {
		t.Helper()
		code, out, stderr := run(t, stdin, "--store", dir, "-v")
		if code != cli.ExitOK {
			t.Fatalf("%s: exit %d\n%s", step, code, stderr)
		}
		if h := memotest.Hits(stderr); h != wantHits {
			t.Errorf("%s: %s records answered from the memo, want %s\n%s", step, h, wantHits, stderr)
		}
		recs := decode(t, out)
		for _, r := range recs {
			action := want[r.Name]
			if action == "" {
				action = "kept"
			}
			if r.Staple == nil || len(r.Staple.Responses) != 1 || r.Staple.Responses[0].Action != action || r.Staple.Responses[0].Status != "good" {
				t.Errorf("%s: %s: staple %+v error %+v, want %s", step, r.Name, r.Staple, r.Error, action)
			}
		}
		return recs
	}
	settle := func(name string) {
		t.Helper()
		memotest.Age(t, dir, deploy)
		step(name+": writing the memo", "0", nil)
		step(name+": replayed", "3", nil)
	}
	without := func(name string, last []*md.Record) {
		t.Helper()
		t.Setenv(cli.NoMemoEnv, "1")
		defer os.Unsetenv(cli.NoMemoEnv)
		_, out, stderr := run(t, stdin, "--store", dir, "-v")
		if h := memotest.Hits(stderr); h != "none" {
			t.Errorf("%s: with %s set the memo was used", name, cli.NoMemoEnv)
		}
		for i, r := range decode(t, out) {
			w, o := last[i].Staple.Responses[0], r.Staple.Responses[0]
			if o.Action != "kept" || o.Status != w.Status || !o.RenewAt.Equal(w.RenewAt.Time) || o.File != w.File {
				t.Errorf("%s: %s: without the memo %+v, with %+v", name, r.Name, o, w)
			}
		}
	}
	step("first", "0", map[string]string{"a.test": "fetched", "b.test": "fetched", "c.test": "fetched"})
	settle("fetched")
	if n := resp.Requests.Load(); n != 3 {
		t.Fatalf("%d OCSP requests, want 3", n)
	}

	deployed := staple.DeployFile(filepath.Join(deploy, "a.test"), md.KeySpec{})
	if err := os.Remove(deployed); err != nil {
		t.Fatal(err)
	}
	out := step("deployed response removed", "2", nil)
	if _, err := os.Stat(deployed); err != nil {
		t.Errorf("the deployed response was not written again: %v", err)
	}
	without("deployed response removed", out)

	settle("deployed again")
	if err := st.Remove(t.Context(), store.GroupOCSP, "b.test", ocspfile.ResponseFile(ids["b.test"])); err != nil {
		t.Fatal(err)
	}
	out = step("stored response removed", "2", map[string]string{"b.test": "fetched"})
	without("stored response removed", out)
	if n := resp.Requests.Load(); n != 4 {
		t.Errorf("%d OCSP requests, want 4 (one for b.test)", n)
	}
}
