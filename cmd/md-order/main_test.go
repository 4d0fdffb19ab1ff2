package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
)

func TestHelpNamesTheJob(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), []string{"md-order", "--help"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitOK || !strings.Contains(out.String(), tool().Usage) || !strings.Contains(out.String(), "--version") {
		t.Errorf("exit %d, help:\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"md-parse /etc/apache2/apache2.conf | md-order | md-install", "--dry-run", "--force", "--http-listen", "--tls-listen", "--ca-file", "--jobs", "--wait"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"md-order", "--jobs", "0"}, ""},
		{[]string{"md-order", "--no-such-flag"}, ""},
		{[]string{"md-order", "--store", t.TempDir()}, "{not json\n"},
		{[]string{"md-order", "--store", t.TempDir()}, `{"name":"a b","domains":["a b"]}` + "\n"},
	} {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), tool(), tc.args, cli.Env{Stdin: strings.NewReader(tc.stdin), Stdout: &out, Stderr: &errOut})
		if code != cli.ExitUsage || out.Len() != 0 || !strings.Contains(errOut.String(), "md-order: error:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out.String(), errOut.String())
		}
	}
}

// TestFlagMessages: md-order's own flags through the shared parser: -vv
// counts, a duration without unit and a typo get messages an operator
// can act on (issue 12 item 6).
func TestFlagMessages(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"md-order", "--timeout", "5"}, "md-order: error: --timeout 5: a duration needs a unit, like 5s or 5m"},
		{[]string{"md-order", "--http-lsiten", ":80"}, "md-order: hint: did you mean --http-listen?"},
		{[]string{"md-order", "-vv", "--jobs", "0"}, "--jobs must be at least 1"}, // -vv parsed, the action ran
	} {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), tool(), tc.args, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		if code != cli.ExitUsage || out.Len() != 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out.String(), errOut.String(), tc.want)
		}
	}
}
