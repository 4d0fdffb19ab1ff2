package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// TestVerboseRepeats: the help says -v is "repeat for more"; -vv, -v -v
// and --verbose --verbose all count (urfave/cli refuses -v mixed with --verbose) (issue 12 item 6).
func TestVerboseRepeats(t *testing.T) {
	for _, args := range [][]string{{"-vv"}, {"-v", "-v"}, {"--verbose", "--verbose"}, {"-v", "--wait", "1s", "-v"}} {
		var got int
		tool := testTool(func(_ context.Context, _ *ucli.Context, _ Env, log *Logger) error {
			got = log.Verbose
			return nil
		})
		code, _, stderr := run(t, tool, "", args...)
		if code != ExitOK || got != 2 {
			t.Errorf("%v: exit %d, verbosity %d; want 0, 2 (stderr %q)", args, code, got, stderr)
		}
	}
}

// TestFlagErrorsExplain: a bad value names the flag and what it wants; an
// unknown flag gets the nearest real one (issue 12 item 6).
func TestFlagErrorsExplain(t *testing.T) {
	tool := testTool(func(context.Context, *ucli.Context, Env, *Logger) error { return nil })
	tool.Flags = append(tool.Flags,
		&ucli.DurationFlag{Name: "timeout", Value: time.Minute},
		&ucli.IntFlag{Name: "jobs", Aliases: []string{"j"}},
		&ucli.BoolFlag{Name: "dry-run"},
		&ucli.StringFlag{Name: "http-listen"})
	tests := []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"--timeout", "5"}, []string{"--timeout 5: a duration needs a unit, like 5s"}, "parse error"},
		{[]string{"--timeout=soon"}, []string{"--timeout soon: not a duration", "30s"}, "parse error"},
		{[]string{"-j", "many"}, []string{"-j many: not a whole number"}, "parse error"},
		{[]string{"--dry-run=maybe"}, []string{"--dry-run=maybe: want true or false"}, "parse error"},
		{[]string{"--timeout"}, []string{"--timeout needs a value"}, ""},
		{[]string{"--timout", "5s"}, []string{"unknown flag --timout", "did you mean --timeout?"}, ""},
		{[]string{"--sotre", "x"}, []string{"unknown flag --sotre", "did you mean --store?"}, ""},
		{[]string{"--dryrun"}, []string{"did you mean --dry-run?"}, ""},
		{[]string{"--http"}, []string{"did you mean --http-listen?"}, ""},
		{[]string{"--verb"}, []string{"did you mean --verbose?"}, ""},
		{[]string{"--zzzzzzzz"}, []string{"unknown flag --zzzzzzzz", "--help lists the flags"}, "did you mean"},
	}
	for _, tc := range tests {
		code, stdout, stderr := run(t, tool, "", tc.args...)
		if code != ExitUsage || stdout != "" {
			t.Errorf("%v: exit %d stdout %q; want 2 and nothing", tc.args, code, stdout)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, w)
			}
		}
		if tc.not != "" && strings.Contains(stderr, tc.not) {
			t.Errorf("%v: stderr %q still says %q", tc.args, stderr, tc.not)
		}
	}
}
