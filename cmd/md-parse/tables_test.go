package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/memo/memotest"
)

// TestTablesAfterEdits is the proof for reading an edited md.toml table
// by table (replayTables): over a run of edits as a hosting platform
// makes them (tables added, edited, removed, moved), and edits that
// reach across tables ([global], the reachability, an overlap, an MD's
// stored set), every run prints what a run without any memo prints, says
// the same warnings and errors, and reads only what it must.
func TestTablesAfterEdits(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(memo.CacheEnv, filepath.Join(t.TempDir(), "cache"))
	t.Setenv(cli.NoMemoEnv, "")
	conf, store := filepath.Join(dir, "md.toml"), filepath.Join(dir, "store")
	global := "[global]\nstore-dir = \"" + store + "\"\ncertificate-authority = [\"https://127.0.0.1:1/dir\"]\n" +
		"certificate-agreement = \"accepted\"\n"
	table := map[string]string{
		"a":  "[[domain]]\ndomains = [\"a.test\", \"www.a.test\"]\nwebroot = \"/srv/a\"\n",
		"a'": "[[domain]]\ndomains = [\"a.test\", \"www.a.test\"]\n\n# no webroot: nothing makes port 80 reachable\n",
		"b":  "[[domain]]\ndomains = [\"b.test\"]\n",
		"b'": "[[domain]]\ndomains = [\"b.test\"]\nrenew-window = \"20%\"\n",
		"c":  "[[domain]]\ndomains = [\"*.c.test\"] # warned: a wildcard without dns-01\n",
		"d":  "[[domain]]\ndomains = [\"d.test\"]\nkey-mode = \"0644\"\ndeploy-dir = \"/srv/d\"\n",
		"e":  "[[domain]]\ndomains = [\"e.test\"]\n",
		"e'": "[[domain]]\ndomains = [\"e.test\", \"www.e.test\"]\n",
		"x":  "[[domain]]\ndomains = [\"www.a.test\"]\n",
	}
	for _, step := range []struct {
		name   string
		global string // [global] and what precedes the tables
		tables string // which, in order
		change func() // besides the config
		note   string // what -v says of the tables; "": read whole
		code   int
	}{
		{name: "inserted at the top", tables: "e a b c d", note: "4 of 5 [[domain]] tables as before"},
		{name: "one edited", tables: "e a b' c d", note: "4 of 5 [[domain]] tables as before"},
		{name: "one removed", tables: "e a b' c", note: "4 of 4 [[domain]] tables as before"},
		{name: "moved", tables: "c e a b'", note: "4 of 4 [[domain]] tables as before"},
		{name: "the only webroot removed", tables: "c e a' b'"},
		{name: "a name twice", tables: "c e a' b' x", code: cli.ExitUsage},
		{name: "[global] edited", global: "contact-email = \"ops@example.test\"\n", tables: "c e a' b'"},
		{name: "an MD's stored set changed", global: "contact-email = \"ops@example.test\"\n", tables: "c e' a' b'",
			change: func() { changeStoredMD(t, store, "b.test") }, note: "2 of 4 [[domain]] tables as before"},
	} {
		text := global + step.global
		for _, name := range strings.Fields(step.tables) {
			text += table[name]
		}
		if step.name == "inserted at the top" { // the runs before: the same without e
			if err := os.WriteFile(conf, []byte(strings.Replace(text, table["e"], "", 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			memotest.Age(t, dir)
			mustRun(t, "-v", conf) // writes the store
			memotest.Age(t, dir)
			mustRun(t, "-v", conf) // remembers every MD, and the run
		}
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if step.change != nil {
			step.change()
		}
		memotest.Age(t, conf) // not the store: that would change every MD
		t.Setenv(cli.NoMemoEnv, "1")
		wantCode, wantOut, wantErr := run(t, "-v", "--dry-run", conf)
		t.Setenv(cli.NoMemoEnv, "")
		code, out, errOut := run(t, "-v", conf)
		if code != step.code || wantCode != step.code {
			t.Fatalf("%s: exit %d (without memos %d), want %d\n%s", step.name, code, wantCode, step.code, errOut)
		}
		if out != wantOut {
			t.Errorf("%s: output\n%s\nwithout memos\n%s", step.name, out, wantOut)
		}
		if got, want := configMessages(errOut), configMessages(wantErr); got != want {
			t.Errorf("%s: warnings and errors\n%s\nwithout memos\n%s", step.name, got, want)
		}
		if read := !strings.Contains(errOut, "tables as before"); read != (step.note == "") || !strings.Contains(errOut, step.note) {
			t.Errorf("%s: -v does not say %q:\n%s", step.name, step.note, errOut)
		}
		if step.code == 0 { // remember every MD with settled times
			memotest.Age(t, dir)
			mustRun(t, "-v", conf)
		}
	}
}

// configMessages are the lines of md-parse's stderr that speak of the
// configuration (warnings and errors), without -v's notes.
func configMessages(stderr string) string {
	return strings.Join(configLine.FindAllString(stderr, -1), "\n")
}

var configLine = regexp.MustCompile(`(?m)^(md-parse: warning: .*|.*md\.toml:\d+: .*)$`)

// changeStoredMD changes the stored account of an MD (domains/<md>/md.json).
func changeStoredMD(t *testing.T, store, name string) {
	t.Helper()
	p := filepath.Join(store, "domains", name, "md.json")
	var m map[string]any
	data, _ := os.ReadFile(p)
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["ca"].(map[string]any)["account"] = "ACME-example-0009"
	data, _ = json.Marshal(m)
	if err := os.WriteFile(p+".new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
}
