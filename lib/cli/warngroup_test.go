package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
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
