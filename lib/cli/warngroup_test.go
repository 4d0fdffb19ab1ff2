package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// TestWarnConfig: warnings that say the same about many MDs are shown in
// full three times and counted once; with -v every one is shown; others
// are shown as they are, in order.
func TestWarnConfig(t *testing.T) {
	var ws []md.ConfigError
	for i := 1; i <= 5; i++ {
		ws = append(ws, md.ConfigError{File: "md.toml", Line: 2 * i, Msg: fmt.Sprintf("d%d.test has no way to answer an ACME challenge: set webroot", i)})
	}
	ws = append(ws, md.ConfigError{File: "md.toml", Line: 20, Msg: "domains: *.a.test is a wildcard name"})
	ws = append(ws, md.ConfigError{File: "md.toml", Line: 22, Msg: "domains: *.b.test is a wildcard name"})
	tests := []struct {
		verbose int
		want    []string
	}{
		{0, []string{
			"md-parse: warning: md.toml:2: d1.test has no way to answer an ACME challenge: set webroot",
			"md-parse: warning: md.toml:4: d2.test has no way",
			"md-parse: warning: md.toml:6: d3.test has no way",
			"md-parse: warning: md.toml:20: domains: *.a.test is a wildcard name",
			"md-parse: warning: md.toml:22: domains: *.b.test is a wildcard name",
			`md-parse: warning: 2 more MDs with the warning "<name> has no way to answer an ACME challenge: set webroot" (-v lists them)`,
		}},
		{1, []string{
			"md-parse: warning: md.toml:2: d1.test",
			"md-parse: warning: md.toml:4: d2.test",
			"md-parse: warning: md.toml:6: d3.test",
			"md-parse: warning: md.toml:8: d4.test has no way",
			"md-parse: warning: md.toml:10: d5.test has no way",
			"md-parse: warning: md.toml:20: domains: *.a.test",
			"md-parse: warning: md.toml:22: domains: *.b.test",
			`md-parse: warning: 2 more MDs with the warning`,
		}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		log := NewLogger("md-parse", &buf)
		log.Verbose = tc.verbose
		WarnConfig(log, ws)
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != len(tc.want) {
			t.Fatalf("-v %d: %d lines, want %d:\n%s", tc.verbose, len(lines), len(tc.want), buf.String())
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("-v %d: line %d = %q, want %q...", tc.verbose, i+1, lines[i], w)
			}
		}
	}
}

// TestLockedSkipsCounted: MDs skipped because another run holds their
// locks are named three times and then counted (-v names each), in a
// streaming stage and in one that reads all its input first; the run
// exits 3 either way.
func TestLockedSkipsCounted(t *testing.T) {
	names := []string{"a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test"}
	for _, streaming := range []bool{true, false} {
		tool := testTool(func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
			s := &Stage{Start: func(context.Context, *store.Store, []*md.Record) (*Work, error) {
				return &Work{Jobs: 3, Each: func(_ context.Context, r *md.Record) error {
					return fmt.Errorf("%s: %w", r.Name, store.ErrLocked)
				}}, nil
			}}
			if streaming {
				s.Memo = &MemoSpec{Stage: "test", Paths: func(string) []memo.Path { return nil }, Off: true}
			}
			return s.Run(ctx, c, env, log)
		})
		for _, tc := range []struct {
			args      []string
			named     int
			countLine string
		}{
			{nil, 3, "md-test: warning: 4 more MDs skipped: another run holds their locks (-v names each)"},
			{[]string{"-v"}, 7, ""},
		} {
			code, out, errOut := run(t, tool, recordLines(names...), append([]string{"--store", t.TempDir()}, tc.args...)...)
			if code != ExitLocked || strings.Count(out, "\n") != len(names) {
				t.Errorf("streaming %v %v: exit %d, %d records; want 3, %d", streaming, tc.args, code, strings.Count(out, "\n"), len(names))
			}
			if got := strings.Count(errOut, ": skipped: another run holds its lock"); got != tc.named {
				t.Errorf("streaming %v %v: %d MDs named, want %d\n%s", streaming, tc.args, got, tc.named, errOut)
			}
			if strings.Contains(errOut, "more MDs skipped") != (tc.countLine != "") || !strings.Contains(errOut, tc.countLine) {
				t.Errorf("streaming %v %v: want the count line %q\n%s", streaming, tc.args, tc.countLine, errOut)
			}
		}
	}
}
