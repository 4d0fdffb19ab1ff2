package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
)

// TestWatchUsage: --watch needs a store that can be watched (etcd) and
// does not take --cert files; both are usage errors naming the problem.
func TestWatchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--watch", "--all", "--store", t.TempDir()}, "etcd://"},
		{[]string{"--watch", "--cert", "x.pem", "--store", t.TempDir()}, "--cert"},
	} {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), tool(), append([]string{"md-staple"}, tc.args...),
			cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		if code != cli.ExitUsage || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a word about %s", tc.args, code, errOut.String(), tc.want)
		}
	}
}
