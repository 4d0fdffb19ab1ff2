package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
)

// TestDemo runs scripts/demo (make demo) with the built commands: it must
// succeed, show every MD good in md-status's table, and leave no process
// and no file behind.
func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(moduleRoot(), "scripts", "demo"))
	cmd.Env = append(os.Environ(), "MDTOOLS_BIN="+binDir, "TMPDIR="+tmp, "MD_DEMO_KEEP=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		`{"name":"demo.test","order":"ordered","install":"activated","served":true,"staple":["rsa:good","secp256r1:good"],"error":null}`,
		`"name":"shop.demo.test","order":"ordered","install":"activated"`,
		`"name":"wild.demo.test","order":"ordered","install":"activated"`,
		"md-renew: summary: 2 managed domains, 0 ordered, 0 activated, 0 failed; exit 0 (stages: 0 0 0 0)",
		"toml challenge-setup:dns-01:wild.demo.test wild.demo.test",
		"== against Let's Encrypt",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	var rows int
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && slices.Contains([]string{"demo.test", "shop.demo.test", "wild.demo.test"}, f[0]) {
			rows++
			if f[2] != "good" {
				t.Errorf("md-status row: %s", line)
			}
		}
	}
	if rows != 3 {
		t.Errorf("md-status table has %d MD rows; want 3", rows)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
	// Everything it started is gone, and so is its temp dir.
	if left, _ := filepath.Glob(filepath.Join(tmp, "mdtools-demo.*")); len(left) > 0 {
		t.Errorf("demo left %v", left)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, []byte(tmp)) {
			t.Errorf("demo left a process running: %s", bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		}
	}
}

// TestCronContract runs md-renew as cron does on an md.toml whose MD no
// challenge can answer (no http-listen, no webroot), over five runs with
// the store's clock moved forward: every run while it fails (during the
// backoff too) exits 1 and says which MD fails since when and when it is
// tried next, on stdout as well with --syslog (cron mails stdout); no
// order is created at the CA meanwhile; once fixed (md-order's own
// listener) and the backoff over, it is ordered and installed; then a run
// says nothing at all.
func TestCronContract(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	conf := filepath.Join(dir, "md.toml")
	toml := fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
contact-email = "admin@cron.test"
certificate-agreement = "accepted"
retry-delay = "1h"
deploy-dir = %q

[[domain]]
domains = ["cron.test"]
`, ca.DirectoryURL, ca.RootsFile, filepath.Join(dir, "deploy"))
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	pebbleLog := filepath.Join(ca.Dir, "pebble.log")
	orders := func() int {
		data, err := os.ReadFile(pebbleLog)
		if err != nil {
			t.Fatal(err)
		}
		return len(pebbleOrderLine.FindAll(data, -1))
	}
	install := []string{"--install-args", "--no-verify"}
	failing := regexp.MustCompile(`(?m)^md-renew: FAILING: cron\.test since \w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT, next try \w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT \(order: challenge-mismatch\)$`)

	for i, action := range []string{"failed", "backoff"} {
		code, stdout, stderr := mdRenew(t, storeDir, nil, append(install, conf)...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "md-renew: cron.test: order="+action+" install=none FAILED order: None of the ACME challenge methods") ||
			!failing.MatchString(stderr) || !strings.Contains(stderr, "1 failed; exit 1") {
			t.Fatalf("run %d: exit %d stdout %q stderr:\n%s", i+1, code, stdout, stderr)
		}
	}
	// --syslog: what matters reaches stdout too, which cron mails.
	code, stdout, _ := mdRenew(t, storeDir, nil, append([]string{"--syslog"}, append(install, conf)...)...)
	if code != 1 || !failing.MatchString(stdout) || !strings.Contains(stdout, "md-renew: cron.test: order=backoff install=none FAILED") {
		t.Fatalf("--syslog run: exit %d stdout:\n%s", code, stdout)
	}
	if n := orders(); n != 0 {
		t.Fatalf("Pebble has %d orders for an MD that no challenge can answer; want 0", n)
	}

	// Time passes: the backoff is over (the job's next-run moves into the
	// past); the operator gives md-order a listener.
	jobPath := filepath.Join(storeDir, "staging", "cron.test", "job.json")
	var job map[string]any
	data, err := os.ReadFile(jobPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &job); err != nil {
		t.Fatal(err)
	}
	job["next-run"] = time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat)
	data, _ = json.Marshal(job)
	if err := os.WriteFile(jobPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fixed := append([]string{"--order-args", fmt.Sprintf("--http-listen 127.0.0.1:%d", ca.HTTPPort)}, append(install, conf)...)
	code, stdout, stderr := mdRenew(t, storeDir, nil, fixed...)
	want := "md-renew: cron.test: order=ordered install=activated ok\n" +
		"md-renew: summary: 1 managed domains, 1 ordered, 1 activated, 0 failed; exit 0 (stages: 0 0 0 0)\n"
	if code != 0 || stdout != "" || !strings.HasSuffix(stderr, want) {
		t.Fatalf("fixed run: exit %d stdout %q stderr:\n%s\nwant (at the end):\n%s", code, stdout, stderr, want)
	}
	if n := orders(); n != 1 {
		t.Errorf("Pebble has %d orders; want 1", n)
	}
	code, stdout, stderr = mdRenew(t, storeDir, nil, fixed...)
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("idle run: exit %d stdout %q stderr %q; want 0 and no output", code, stdout, stderr)
	}
	// --dry-run and --version
	code, _, stderr = mdRenew(t, storeDir, nil, append([]string{"-n", "-v"}, fixed...)...)
	if code != 0 || !strings.Contains(stderr, "md-renew: cron.test: order=none") || !strings.Contains(stderr, "summary (dry run): 1 managed domains, 0 failed; exit 0") {
		t.Errorf("--dry-run: exit %d\n%s", code, stderr)
	}
	code, stdout, _ = mdRenew(t, storeDir, nil, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "md-renew (mdtools) version ") {
		t.Errorf("--version: exit %d %q", code, stdout)
	}

	// On a terminal (script(1) gives it one) the idle run shows what it
	// runs, a line per MD and the summary.
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) for a terminal")
	}
	line := "'" + filepath.Join(moduleRoot(), "scripts", "md-renew") + "' --store '" + storeDir + "'"
	for _, a := range fixed {
		line += " '" + a + "'"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptBin, "-qec", line, "/dev/null")
	cmd.Env = append(os.Environ(), "MDTOOLS_BIN="+binDir)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	text := strings.ReplaceAll(string(out), "\r\n", "\n")
	if err != nil || !strings.Contains(text, "md-renew: md-parse "+conf+" | md-order | md-install | md-staple\n") ||
		!strings.Contains(text, "md-renew: cron.test: order=none install=none ok\n") ||
		!strings.Contains(text, "md-renew: summary: 1 managed domains, 0 ordered, 0 activated, 0 failed; exit 0") {
		t.Errorf("md-renew on a terminal: %v\n%s", err, text)
	}
}

// TestDemoFailsLoudly: when a step of the demo fails (here md-install,
// replaced by a command that fails: fault injection), make demo goes on
// to show the rest but exits 1 and names the failed steps.
func TestDemoFailsLoudly(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"md-parse", "md-order", "md-staple", "md-status", "md-challenge"} {
		if err := os.Symlink(filepath.Join(binDir, c), filepath.Join(bin, c)); err != nil {
			t.Fatal(err)
		}
	}
	broken := "#!/bin/sh\ncat >/dev/null\necho 'md-install: error: broken on purpose' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "md-install"), []byte(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(moduleRoot(), "scripts", "demo"))
	cmd.Env = append(os.Environ(), "MDTOOLS_BIN="+bin, "TMPDIR="+tmp, "MD_DEMO_KEEP=0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("scripts/demo with a failing md-install: %v; want exit 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "demo: FAILED: 1. Apache cycle") || !strings.Contains(string(out), "2. md.toml cycle") {
		t.Errorf("the demo does not name its failed steps:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "mdtools-demo.*")); len(left) > 0 {
		t.Errorf("demo left %v", left)
	}
}
