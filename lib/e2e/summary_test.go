package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	conf, renew := renewStandIns(t, filepath.Join(moduleRoot(), "testdata", "renew", "summary-records.jsonl"))
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
			stdout, stderr := renew(tc.args...)
			if stdout != "" || stderr != tc.want {
				t.Errorf("stdout %q, stderr:\n%s\nwant:\n%s", stdout, stderr, tc.want)
			}
		})
	}
}

// renewStandIns sets up md-renew with stand-in stages that pass the
// records file on, and returns its config's path and a run of md-renew
// with args before it that must exit 1 (an MD failed).
func renewStandIns(t *testing.T, records string) (string, func(args ...string) (stdout, stderr string)) {
	t.Helper()
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
	return conf, func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(moduleRoot(), "scripts", "md-renew"), append(args, conf)...)
		cmd.Env = append(os.Environ(), "MDTOOLS_BIN="+bin, "MD_STORE="+t.TempDir())
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("md-renew %v: %v, want exit 1; stderr:\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
}

// TestRenewCountsManyFailures: without -v, md-renew lists the first 20
// failed MDs and counts the others, in its lines and its FAILING line (a
// CA down for a run over 100,000 MDs mailed 100,000 lines and a FAILING
// line of megabytes); -v lists each.
func TestRenewCountsManyFailures(t *testing.T) {
	var recs strings.Builder
	const n = 27
	for i := range n {
		fmt.Fprintf(&recs, `{"name":"f%02d.test","domains":["f%02d.test"],"order":{"action":"failed"},"error":{"stage":"order","problem":"urn:ietf:params:acme:error:serverInternal","detail":"the CA is down"}}`+"\n", i, i)
	}
	recs.WriteString(`{"name":"ok.test","domains":["ok.test"],"order":{"action":"none"}}` + "\n")
	file := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(file, []byte(recs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, renew := renewStandIns(t, file)
	for _, tc := range []struct {
		args       []string
		listed     int
		countLine  string
		failingEnd string
	}{
		{nil, 20, "md-renew: 7 more MDs failed, not listed here (md-renew -v, md-status or the records name each)\n", "f19.test (order: urn:ietf:params:acme:error:serverInternal); and 7 more\n"},
		{[]string{"-v"}, n, "", "f26.test (order: urn:ietf:params:acme:error:serverInternal)\n"},
	} {
		_, stderr := renew(tc.args...)
		if got := strings.Count(stderr, " FAILED order: the CA is down\n"); got != tc.listed {
			t.Errorf("md-renew %v: %d failed MDs listed, want %d\n%s", tc.args, got, tc.listed, stderr)
		}
		if (tc.countLine == "") != !strings.Contains(stderr, "more MDs failed") || !strings.Contains(stderr, tc.countLine) {
			t.Errorf("md-renew %v: want the count line %q\n%s", tc.args, tc.countLine, stderr)
		}
		failing := ""
		for _, l := range strings.Split(stderr, "\n") {
			if strings.HasPrefix(l, "md-renew: FAILING: ") {
				failing = l + "\n"
			}
		}
		if !strings.HasSuffix(failing, tc.failingEnd) || strings.Count(failing, " (order: ") != tc.listed {
			t.Errorf("md-renew %v: FAILING line %q; want %d MDs, ending %q", tc.args, failing, tc.listed, tc.failingEnd)
		}
		if !strings.Contains(stderr, "md-renew: summary: 28 managed domains, 0 ordered, 0 activated, 27 failed; exit 1") {
			t.Errorf("md-renew %v: summary wrong\n%s", tc.args, stderr)
		}
	}
}
