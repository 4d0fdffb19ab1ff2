package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
)

// sampleStore is the store Apache's mod_md wrote for the reference samples
// (a1.test, installed and stapled), plus broken.test whose md.json is cut.
func sampleStore(t *testing.T, broken bool) string {
	dir := t.TempDir()
	S := "../../testdata/status/samples"
	for src, dst := range map[string]string{
		"domains-a1.test-md.json":     "domains/a1.test/md.json",
		"domains-a1.test-pubcert.pem": "domains/a1.test/pubcert.pem",
		"domains-a1.test-job.json":    "domains/a1.test/job.json",
	} {
		b, err := os.ReadFile(filepath.Join(S, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if broken {
		if err := os.MkdirAll(filepath.Join(dir, "domains", "broken.test"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "domains", "broken.test", "md.json"), []byte(`{"name": "broken.te`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runTool(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-status"}, args...), cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestExitCodesAndMessages(t *testing.T) {
	good, broken := sampleStore(t, false), sampleStore(t, true)
	now := "--now=2026-11-28T14:43:36Z"
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		noStdout bool
	}{
		{"json list", []string{"-d", good, now}, 0, `"managed-domains": [`, "", false},
		{"one by domain", []string{"-d", good, now, "A1.test"}, 0, "{\n  \"name\": \"a1.test\"", "", false},
		{"certificate-status", []string{"-d", good, now, "--certificate-status", "a1.test"}, 0, `"sha256-fingerprint": "82133d98`, "", false},
		{"table", []string{"-d", good, now, "--table"}, 0, "a1.test  a1.test  good", "", false},
		{"plan", []string{"-d", good, now, "--plan"}, 0, `"action": "fetch"`, "", false},
		{"metrics", []string{"-d", good, now, "--metrics"}, 0, `md_state{md="a1.test"} 2`, "", false},
		{"server-status", []string{"-d", good, now, "--server-status"}, 0, "ManagedDomain[0]ActivityRenew: 5209917", "", false},
		{"html", []string{"-d", good, now, "--html"}, 0, "https://crt.sh?q=82133d98", "", false},
		{"one as text", []string{"-d", good, now, "--text", "a1.test"}, 0, "a1.test  good\n  domains:      a1.test\n", "", false},
		{"text shows serial and key type", []string{"-d", good, now, "--text", "a1.test"}, 0, "    key type:   RSA 2048\n    serial:     ", "", false},
		{"text and json", []string{"-d", good, "--text", "--json", "a1.test"}, 2, "", "choose one of", true},
		{"unknown name", []string{"-d", good, "nosuch.test"}, 1, "", `no managed domain is named "nosuch.test"`, true},
		{"broken md.json", []string{"-d", broken, now}, 1, `"state-descr": "` + broken + `/domains/broken.test/md.json: unexpected end of JSON input"`, "1 managed domain with unreadable store files", false},
		{"broken, other MD fine", []string{"-d", broken, now, "a1.test"}, 0, `"state": 2`, "", false},
		{"two views", []string{"-d", good, "--json", "--metrics"}, 2, "", "choose one of", true},
		{"bad now", []string{"-d", good, "--now", "yesterday"}, 2, "", "--now", true},
		{"no store", []string{"-d", filepath.Join(good, "nope")}, 1, "", "no such file", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runTool(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) || (tc.noStdout && out != "") {
				t.Errorf("exit %d; want %d\nstdout:\n%.1500s\nstderr:\n%s", code, tc.code, out, errOut)
			}
		})
	}
	// md-status never writes: the store is unchanged (no md_store.json, no locks).
	if _, err := os.Stat(filepath.Join(good, "md_store.json")); err == nil {
		t.Errorf("md-status created md_store.json")
	}
}

func TestServeFlag(t *testing.T) {
	dir := sampleStore(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var out bytes.Buffer
	go func() {
		done <- cli.Run(ctx, tool(), []string{"md-status", "-d", dir, "--serve", "127.0.0.1:0"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: pw})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the address: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if !ok {
		t.Fatalf("no address in %q", line)
	}
	resp, err := http.Get(url + "md-status/a1.test")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"serial": "7540F353C077ED6C"`) {
		t.Errorf("%s\n%s", resp.Status, body)
	}
	cancel()
	if code := <-done; code != 0 || out.Len() != 0 {
		t.Errorf("--serve exit %d, stdout %q", code, out.String())
	}
}

// TestConfigFindsTheStore: --config reads the store the config names
// (md.toml store-dir, Apache MDStoreDir or mod_md's ServerRoot/md) instead
// of $MD_STORE or the default, and -v says which and why (issue 11 items
// 6 and 7).
func TestConfigFindsTheStore(t *testing.T) {
	good := sampleStore(t, false)
	dir := t.TempDir()
	toml := filepath.Join(dir, "md.toml")
	os.WriteFile(toml, []byte("[global]\nstore-dir = \""+good+"\"\n[[domain]]\ndomains = [\"a1.test\"]\n"), 0o644)
	apache := filepath.Join(dir, "apache2.conf")
	os.WriteFile(apache, []byte("MDStoreDir "+good+"\nMDomain a1.test\n"), 0o644)
	root := filepath.Join(dir, "root")
	os.MkdirAll(root, 0o755)
	if err := os.Rename(sampleStore(t, false), filepath.Join(root, "md")); err != nil {
		t.Fatal(err)
	}
	noDir := filepath.Join(root, "apache2.conf")
	os.WriteFile(noDir, []byte("ServerRoot "+root+"\nMDomain a1.test\n"), 0o644)
	for _, tc := range []struct{ conf, from string }{
		{toml, "MDStoreDir / store-dir in " + toml},
		{apache, "MDStoreDir / store-dir in " + apache},
		{noDir, "mod_md's default, md under the ServerRoot of " + noDir},
	} {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), tool(), []string{"md-status", "-v", "--json", "--config", tc.conf},
			cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
		if code != 0 || !strings.Contains(out.String(), `"name": "a1.test"`) {
			t.Errorf("--config %s: exit %d\n%.500s\n%s", tc.conf, code, out.String(), errOut.String())
		}
		if !strings.Contains(errOut.String(), "(from "+tc.from+")") {
			t.Errorf("--config %s: stderr does not say why: %s", tc.conf, errOut.String())
		}
	}
}
