package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
	ucli "github.com/urfave/cli/v2"
)

// TestNodeFromEnv: $MD_NODE names the node job log entries record; an
// invalid one is a usage error before anything runs.
func TestNodeFromEnv(t *testing.T) {
	defer md.SetNode(md.Node())
	for _, tc := range []struct {
		value string
		code  int
		node  string
	}{
		{"web4", ExitOK, "web4"},
		{"web 4", ExitUsage, ""},
		{"../x", ExitUsage, ""},
	} {
		ran := false
		tool := Tool{Name: "md-x", Action: func(context.Context, *ucli.Context, Env, *Logger) error {
			ran = true
			return nil
		}}
		var out, errOut bytes.Buffer
		code := Run(t.Context(), tool, []string{"md-x"}, Env{Stdout: &out, Stderr: &errOut,
			Getenv: func(k string) string {
				if k == md.NodeEnv {
					return tc.value
				}
				return ""
			}})
		if code != tc.code || ran != (tc.code == ExitOK) || tc.code == ExitOK && md.Node() != tc.node {
			t.Errorf("MD_NODE=%q: exit %d, ran %v, node %q", tc.value, code, ran, md.Node())
		}
		if tc.code != ExitOK && !strings.Contains(errOut.String(), "$MD_NODE") {
			t.Errorf("MD_NODE=%q: stderr %q", tc.value, errOut.String())
		}
	}
}
