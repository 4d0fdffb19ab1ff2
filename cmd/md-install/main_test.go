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
	code := cli.Run(context.Background(), tool(), []string{"md-install", "--help"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitOK || !strings.Contains(out.String(), tool().Usage) || !strings.Contains(out.String(), "--version") {
		t.Errorf("exit %d, help:\n%s%s", code, out.String(), errOut.String())
	}
}

func TestHelpHasExamplesAndOutputs(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), []string{"md-install", "--help"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--apache-dir", "--reload-cmd", "--no-verify", "--all", "md-parse /etc/apache2/apache2.conf | md-order |", "fullchain.pem", "Exit status"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--all", "some.jsonl"},
		{"--reload-cmd", "   "},
		{"--no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), tool(), append([]string{"md-install", "--store", t.TempDir()}, args...), cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		if code != cli.ExitUsage || out.Len() != 0 {
			t.Errorf("%v: exit %d stdout %q; want 2 and nothing", args, code, out.String())
		}
	}
	// bad input: nothing processed
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), []string{"md-install", "--store", t.TempDir()}, cli.Env{Stdin: strings.NewReader("{\"name\": 3}\n"), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitUsage || !strings.Contains(errOut.String(), "stdin: line 1") {
		t.Errorf("bad input: exit %d stderr %q", code, errOut.String())
	}
}
