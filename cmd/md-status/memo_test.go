package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/memo/memotest"
)

// TestMemoFiles: the whole-store views leave their memos in the store and
// answer from them the next time (-v says how many), with the same output;
// MDTOOLS_NO_MEMO=1 neither reads nor writes one; a single MD's view has
// none.
func TestMemoFiles(t *testing.T) {
	dir := sampleStore(t, false)
	memotest.Age(t, dir)
	run := func(noMemo string, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
			if k == cli.NoMemoEnv {
				return noMemo
			}
			return ""
		}}
		// a fixed time: the table's "(89d)" does not move between runs
		args = append([]string{"md-status", "-v", "-d", dir, "--now", "2100-01-01T00:00:00Z"}, args...)
		if code := cli.Run(context.Background(), tool(), args, env); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut.String())
		}
		return out.String(), errOut.String()
	}
	for _, tc := range []struct{ view, file string }{
		{"--json", "memo-status-json.bin"}, {"--table", "memo-status-table.bin"}, {"--metrics", "memo-status-metrics.bin"},
	} {
		off, offErr := run("1", tc.view)
		if strings.Contains(offErr, "memo") {
			t.Errorf("%s with MDTOOLS_NO_MEMO: %s", tc.view, offErr)
		}
		if _, err := os.Stat(filepath.Join(dir, tc.file)); !os.IsNotExist(err) {
			t.Fatalf("%s with MDTOOLS_NO_MEMO wrote %s (%v)", tc.view, tc.file, err)
		}
		for i, want := range []string{"0", "1"} {
			out, errOut := run("", tc.view)
			if got := memotest.Hits(strings.ReplaceAll(errOut, " MDs ", " records ")); got != want {
				t.Errorf("%s run %d: %s MDs from the memo, want %s\n%s", tc.view, i+1, got, want, errOut)
			}
			if out != off {
				t.Errorf("%s run %d: output differs from the run without memo:\n%s\nwant:\n%s", tc.view, i+1, out, off)
			}
		}
	}
	run("", "a1.test")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "domains memo-status-json.bin memo-status-metrics.bin memo-status-table.bin" {
		t.Errorf("store directory holds %s", got)
	}
}
