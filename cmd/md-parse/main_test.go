package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-parse"}, args...), cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestHelpNamesTheJob(t *testing.T) {
	code, out, errOut := run(t, "--help")
	if code != cli.ExitOK || !strings.Contains(out, tool().Usage) || !strings.Contains(out, "--version") ||
		!strings.Contains(out, "md-parse --dry-run /etc/apache2/apache2.conf") || !strings.Contains(out, "--httpd-version") {
		t.Errorf("exit %d, help:\n%s%s", code, out, errOut)
	}
}

const sample = "../../testdata/apacheconf/sample-apache-httpd.conf"

// its ServerRoot is relative to where the samples were made
var sampleRoot = []string{"--server-root", "../../testdata/apacheconf"}

func records(t *testing.T, out string) []md.Record {
	t.Helper()
	var recs []md.Record
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r md.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad output line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestDryRunWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	code, out, errOut := run(t, append(sampleRoot, "--dry-run", "--store", dir, sample)...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := records(t, out)
	if len(recs) != 2 || recs[0].Name != "a1.test" || recs[1].Name != "a2.test" || recs[0].Source == nil || recs[0].Source.Line != 42 {
		t.Errorf("records %+v", recs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dry run created the store: %v", err)
	}
}

func TestSyncWritesStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	code, out, errOut := run(t, append(sampleRoot, "--store", dir, sample)...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := len(records(t, out)); n != 2 {
		t.Fatalf("%d records", n)
	}
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "a2.test")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Domains, " ") != "a2.test www.a2.test" || m.CA == nil || m.CA.URLs[0] != "https://127.0.0.1:14000/dir" {
		t.Errorf("stored md.json %+v", m)
	}
	// a second run changes nothing and keeps ca.account set by a later stage
	m.CA.Account = "ACME-127.0.0.1-0000"
	if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, append(sampleRoot, "--store", dir, sample)...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if recs := records(t, out); recs[1].CA.Account != "ACME-127.0.0.1-0000" {
		t.Errorf("account not kept: %+v", recs[1].CA)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(conf, []byte("MDomain a.org\nMDMustStaple yes\nMDRenewWindow 1y\n"), 0o644)
	code, out, errOut := run(t, "--store", filepath.Join(dir, "store"), conf)
	if code != cli.ExitUsage || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{conf + ":2: unknown 'yes', supported parameter values are 'on' and 'off'", conf + ":3: MDRenewWindow has unrecognized format"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); !os.IsNotExist(err) {
		t.Errorf("store touched on config errors")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, append(sampleRoot, "--check", "--store", filepath.Join(dir, "store"), sample)...)
	if code != cli.ExitOK || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); !os.IsNotExist(err) {
		t.Errorf("--check touched the store")
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(conf, []byte("<IfDefine PROD>\nMDomain prod.org\n</IfDefine>\n<IfModule !ssl_module>\nMDomain nossl.org\n</IfModule>\n<IfVersion >= 2.5>\nMDomain trunk.org\n</IfVersion>\nIncludeOptional extra.conf\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "root"), 0o755)
	os.WriteFile(filepath.Join(dir, "root", "extra.conf"), []byte("MDomain extra.org\n"), 0o644)
	code, out, errOut := run(t, "--dry-run", "--store", filepath.Join(dir, "store"), "-D", "PROD", "--module", "md",
		"--httpd-version", "2.5.0", "--server-root", filepath.Join(dir, "root"), conf)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []string
	for _, r := range records(t, out) {
		got = append(got, r.Name)
	}
	if strings.Join(got, " ") != "extra.org nossl.org prod.org trunk.org" {
		t.Errorf("MDs %v", got)
	}
	if !strings.Contains(errOut, "No VirtualHost matches Managed Domain prod.org") {
		t.Errorf("warnings missing: %s", errOut)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := run(t); code != cli.ExitUsage {
		t.Errorf("no args: exit %d", code)
	}
	if code, _, errOut := run(t, "--dry-run", "/nonexistent/httpd.conf"); code != cli.ExitUsage || !strings.Contains(errOut, "could not open configuration file") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
}

func TestTOMLGoesToTomlconf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "md.toml")
	os.WriteFile(conf, []byte("[[domain]]\nnames = [\"toml.example\"]\n"), 0o644)
	code, out, errOut := run(t, "--dry-run", "--store", filepath.Join(dir, "store"), conf)
	if code != cli.ExitOK && code != cli.ExitUsage {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code == cli.ExitOK && !strings.Contains(out, `"toml.example"`) {
		t.Errorf("stdout %q", out)
	}
	if code == cli.ExitUsage && !strings.Contains(errOut, "md.toml") {
		t.Errorf("a .toml file must be read by tomlconf: %s", errOut)
	}
}

func TestRenameMovesStoreDir(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	conf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(conf, []byte("MDomain old.org www.old.org\n"), 0o644)
	if code, _, errOut := run(t, "--store", st, conf); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// the first name goes away: mod_md renames the MD instead of ordering anew
	os.WriteFile(conf, []byte("MDomain www.old.org\n"), 0o644)
	code, out, errOut := run(t, "-v", "--store", st, conf)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "MD old.org was renamed to www.old.org") {
		t.Errorf("stderr %q", errOut)
	}
	if recs := records(t, out); len(recs) != 1 || recs[0].Name != "www.old.org" {
		t.Errorf("records %+v", recs)
	}
	if _, err := os.Stat(filepath.Join(st, "domains", "www.old.org", "md.json")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(st, "domains", "old.org")); !os.IsNotExist(err) {
		t.Errorf("old dir still there: %v", err)
	}
}

func TestDryRunKeepsExistingStore(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	conf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(conf, []byte("MDomain keep.org\n"), 0o644)
	if code, _, errOut := run(t, "--store", st, conf); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p := filepath.Join(st, "domains", "keep.org", "md.json")
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(conf, []byte("MDomain keep.org www.keep.org\nMDomain new.org\n"), 0o644)
	code, out, errOut := run(t, "--dry-run", "--store", st, conf)
	if code != cli.ExitOK || len(records(t, out)) != 2 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	after, _ := os.ReadFile(p)
	if string(before) != string(after) {
		t.Errorf("dry run rewrote md.json")
	}
	if _, err := os.Stat(filepath.Join(st, "domains", "new.org")); !os.IsNotExist(err) {
		t.Errorf("dry run created new.org: %v", err)
	}
}

// runEnv runs md-parse with the environment variables in vars only.
func runEnv(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-parse"}, args...),
		cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }})
	return code, out.String(), errOut.String()
}

// TestApacheDefaultStoreIsModMDs is issue 11 item 7: an Apache config
// without MDStoreDir uses the store mod_md uses, "md" under ServerRoot
// (/etc/apache2/md on Debian), unless --store or $MD_STORE say otherwise;
// MDStoreDir beats both; md.toml without store-dir keeps mdtools' default.
// The chosen store is in every record.
func TestApacheDefaultStoreIsModMDs(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "etc-apache2")
	os.MkdirAll(root, 0o755)
	conf := filepath.Join(root, "apache2.conf")
	os.WriteFile(conf, []byte("ServerRoot "+root+"\nServerAdmin a@b.test\nMDomain one.test\n<VirtualHost *:443>\nServerName one.test\n</VirtualHost>\n"), 0o644)
	withDir := filepath.Join(dir, "with-dir.conf")
	os.WriteFile(withDir, []byte("MDStoreDir /srv/md-store\nMDomain one.test\n"), 0o644)
	toml := filepath.Join(dir, "md.toml")
	os.WriteFile(toml, []byte("[[domain]]\ndomains = [\"toml.test\"]\n"), 0o644)
	tests := []struct {
		name   string
		vars   map[string]string
		args   []string
		want   string
		exists bool // the store was created (not a dry run)
	}{
		{"ServerRoot/md", nil, []string{conf}, filepath.Join(root, "md"), true},
		{"--store beats ServerRoot/md", nil, []string{"--store", filepath.Join(dir, "flag"), conf}, filepath.Join(dir, "flag"), true},
		{"$MD_STORE beats ServerRoot/md", map[string]string{"MD_STORE": filepath.Join(dir, "env")}, []string{conf}, filepath.Join(dir, "env"), true},
		{"MDStoreDir beats --store", map[string]string{"MD_STORE": filepath.Join(dir, "env")}, []string{"-n", "--store", filepath.Join(dir, "flag"), withDir}, "/srv/md-store", false},
		{"md.toml keeps the default", nil, []string{"-n", toml}, store.DefaultDir(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runEnv(t, tc.vars, tc.args...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, r := range records(t, out) {
				if r.Store != tc.want {
					t.Errorf("record %s: store %q; want %q", r.Name, r.Store, tc.want)
				}
			}
			if _, err := os.Stat(filepath.Join(tc.want, "md_store.json")); tc.exists && err != nil {
				t.Errorf("store %s not written: %v", tc.want, err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "md")); !os.IsNotExist(err) {
		t.Errorf("a store appeared beside the configs instead of under ServerRoot")
	}
}

// An MD with an IP address whose CA issues IP certificates only in a
// profile it does not select is warned of at parse time, with its line.
func TestIPProfileWarning(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(conf, []byte("MDCertificateAuthority LetsEncrypt\nMDomain ip.example 192.0.2.10\n<MDomain short.example 192.0.2.11>\n  MDProfile shortlived\n</MDomain>\n"), 0o644)
	code, _, errOut := run(t, "--check", conf)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, conf+":2: ip.example lists the IP address 192.0.2.10") || !strings.Contains(errOut, "MDProfile shortlived") {
		t.Errorf("no warning for ip.example:\n%s", errOut)
	}
	if strings.Contains(errOut, "short.example lists") {
		t.Errorf("warned of an MD that selects the profile:\n%s", errOut)
	}
}
