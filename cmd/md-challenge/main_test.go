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
	code := cli.Run(context.Background(), tool(), []string{"md-challenge", "--help"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitOK || !strings.Contains(out.String(), tool().Usage) || !strings.Contains(out.String(), "--version") {
		t.Errorf("exit %d, help:\n%s%s", code, out.String(), errOut.String())
	}
}
