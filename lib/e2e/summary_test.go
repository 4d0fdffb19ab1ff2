package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRenewSummaryLines pins md-renew's per-MD lines, FAILING line and
// summary for a stream of records (testdata/renew/summary-records.jsonl:
// nothing done, ordered and activated, a backoff with a problem, escaped
// quotes and a backslash in its detail, a failure without a problem, a
// dry run, a blank line, a record no stage touched). The stages are
// stand-ins that pass the file on: what is tested is md-renew's reading of
// the stream, which runs once per run over the whole output (issue 17).
func TestRenewSummaryLines(t *testing.T) {
	root := moduleRoot()
	records := filepath.Join(root, "testdata", "renew", "summary-records.jsonl")
	bin := t.TempDir()
	stage := "#!/bin/sh\ncat\n"
	parse := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'md-parse version test'; exit 0; fi\ncat '" + records + "'\n"
	for name, body := range map[string]string{"md-parse": parse, "md-order": stage, "md-install": stage, "md-staple": stage} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(t.TempDir(), "md.toml")
	if err := os.WriteFile(conf, []byte("# the stand-in md-parse does not read it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failing := `md-renew: FAILING: c.test since Sun, 06 Dec 2026 10:00:00 GMT, next try Sun, 06 Dec 2026 11:00:00 GMT (order: urn:ietf:params:acme:error:rateLimited); d.test (install)` + "\n"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"verbose", []string{"-v"}, "md-renew: a.test: order=none install=none ok\n" +
			"md-renew: b.test: order=ordered install=activated ok\n" +
			`md-renew: c.test: order=backoff install=none FAILED order: too "many" requests \\ slash` + "\n" +
			"md-renew: d.test: order=none install=failed FAILED install: reload failed\n" +
			"md-renew: e.test: order=dry-run install=- ok\n" +
			"md-renew: f.test: order=resumed install=waiting ok\n" +
			"md-renew: g.test: order=- install=- ok\n" + failing +
			"md-renew: summary: 7 managed domains, 2 ordered, 1 activated, 2 failed; exit 1 (stages: 0 0 0 0)\n"},
		{"cron", nil, "md-renew: b.test: order=ordered install=activated ok\n" +
			`md-renew: c.test: order=backoff install=none FAILED order: too "many" requests \\ slash` + "\n" +
			"md-renew: d.test: order=none install=failed FAILED install: reload failed\n" +
			"md-renew: f.test: order=resumed install=waiting ok\n" + failing +
			"md-renew: summary: 7 managed domains, 2 ordered, 1 activated, 2 failed; exit 1 (stages: 0 0 0 0)\n"},
		{"dry run", []string{"-n", "-v"}, "md-renew: dry run: md-parse --dry-run " + conf + " | md-order --dry-run (md-install and md-staple are not run)\n" +
			"md-renew: a.test: order=none ok\n" +
			"md-renew: b.test: order=ordered ok\n" +
			`md-renew: c.test: order=backoff FAILED order: too "many" requests \\ slash` + "\n" +
			"md-renew: d.test: order=none FAILED install: reload failed\n" +
			`md-renew: e.test: order=dry-run (would \"order\" now) ok` + "\n" +
			"md-renew: f.test: order=resumed ok\n" +
			"md-renew: g.test: order=- ok\n" + failing +
			"md-renew: summary (dry run): 7 managed domains, 2 failed; exit 1 (stages: 0 0)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "md-renew"), append(tc.args, conf)...)
			cmd.Env = append(os.Environ(), "MDTOOLS_BIN="+bin, "MD_STORE="+t.TempDir())
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("md-renew: %v, want exit 1; stderr:\n%s", err, errb.String())
			}
			if out.Len() != 0 || errb.String() != tc.want {
				t.Errorf("stdout %q, stderr:\n%s\nwant:\n%s", out.String(), errb.String(), tc.want)
			}
		})
	}
}
