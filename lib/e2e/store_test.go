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

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// runIn runs a built command with stdin and $MD_STORE set to mdStore.
func runIn(t *testing.T, mdStore string, stdin []byte, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(os.Environ(), "MD_STORE="+mdStore, "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{code: code, stdout: out.Bytes(), stderr: errb.String()}
}

// TestPipelineUsesTheConfigsStore is issue 11 item 6: with $MD_STORE
// naming one store and the Apache config's MDStoreDir another,
// md-parse | md-order | md-install puts the certificate into the store the
// config names (where Apache looks), nothing into $MD_STORE's; md-status
// --config reads that store; an explicit --store that disagrees with the
// records is exit 2 naming both, and records naming two stores are too.
// Names in the records are lower-cased on the way.
func TestPipelineUsesTheConfigsStore(t *testing.T) {
	ports, err := devca.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ca := devca.StartT(t, devca.Options{HTTPPort: ports[0]})
	dir := t.TempDir()
	confStore := filepath.Join(dir, "conf-store") // MDStoreDir, relative to ServerRoot
	envStore := filepath.Join(dir, "env-store")
	other := filepath.Join(dir, "other-store")
	conf := filepath.Join(dir, "apache2.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`ServerRoot %s
ServerName localhost
ServerAdmin admin@one.test
MDStoreDir conf-store
MDCertificateAuthority %s
MDCACertificateFile %s
MDCertificateAgreement accepted
MDCAChallenges http-01
MDPortMap http:%d
MDomain one.test
<VirtualHost *:443>
  ServerName one.test
  SSLEngine on
</VirtualHost>
`, dir, ca.DirectoryURL, ca.RootsFile, ports[0])), 0o644); err != nil {
		t.Fatal(err)
	}

	parse := runIn(t, envStore, nil, "md-parse", conf)
	if parse.code != 0 {
		t.Fatalf("md-parse: exit %d\n%s", parse.code, parse.stderr)
	}
	for _, r := range parse.records(t) {
		if r.Store != confStore {
			t.Fatalf("md-parse record %s names store %q; want MDStoreDir %q", r.Name, r.Store, confStore)
		}
	}
	// Records written by hand may spell names in upper case; every stage
	// lower-cases them as mod_md does (issue 11 item 11), so the store
	// has domains/one.test, never domains/ONE.Test.
	upper := bytes.ReplaceAll(parse.stdout, []byte(`"one.test"`), []byte(`"ONE.Test"`))
	order := runIn(t, envStore, upper, "md-order", "-v", "--http-listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--ca-file", ca.RootsFile)
	if order.code != 0 {
		t.Fatalf("md-order: exit %d\n%s", order.code, order.stderr)
	}
	for _, want := range []string{"store " + confStore + " (from the records", "$MD_STORE=" + envStore + " ignored"} {
		if !strings.Contains(order.stderr, want) {
			t.Errorf("md-order -v does not say %q:\n%s", want, order.stderr)
		}
	}
	install := runIn(t, envStore, order.stdout, "md-install", "--no-verify")
	if install.code != 0 {
		t.Fatalf("md-install: exit %d\n%s", install.code, install.stderr)
	}
	if recs := install.records(t); len(recs) != 1 || recs[0].Install == nil || recs[0].Install.Action != "activated" {
		t.Fatalf("md-install records: %s", install.stdout)
	}
	st, err := store.Open(t.Context(), confStore)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadChain(t.Context(), store.GroupDomains, "one.test", md.DefaultKeySpecs[0].FileName("pubcert")); err != nil {
		t.Errorf("no live certificate in the config's store %s: %v", confStore, err)
	}
	if _, err := os.Stat(envStore); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("$MD_STORE's store %s was touched: %v", envStore, err)
	}
	for _, g := range []string{"domains", "staging", "archive"} {
		if _, err := os.Lstat(filepath.Join(confStore, g, "ONE.Test")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/ONE.Test exists: names are not lower-cased", g)
		}
	}

	status := runIn(t, envStore, nil, "md-status", "-v", "--json", "--config", conf)
	if status.code != 0 || !strings.Contains(string(status.stdout), `"one.test"`) {
		t.Errorf("md-status --config: exit %d\n%s\n%s", status.code, status.stdout, status.stderr)
	}
	if !strings.Contains(status.stderr, "store "+confStore+" (from MDStoreDir") {
		t.Errorf("md-status -v does not name the store it read:\n%s", status.stderr)
	}

	// Records md-install --all makes from the store name it, so the next
	// stage uses the same store, not $MD_STORE's.
	all := runIn(t, envStore, nil, "md-install", "--all", "--no-verify", "--config", conf)
	if all.code != 0 {
		t.Fatalf("md-install --all --config: exit %d\n%s", all.code, all.stderr)
	}
	for _, r := range all.records(t) {
		if r.Store != confStore {
			t.Errorf("md-install --all record %s names store %q; want %q", r.Name, r.Store, confStore)
		}
	}
	if r := runIn(t, envStore, all.stdout, "md-staple", "--store", other); r.code != 2 {
		t.Errorf("md-install --all | md-staple --store OTHER: exit %d; want 2\n%s", r.code, r.stderr)
	}

	// An explicit --store that disagrees with the records: exit 2, both
	// named, nothing created there, nothing on stdout.
	for _, name := range []string{"md-order", "md-install", "md-staple"} {
		r := runIn(t, envStore, order.stdout, name, "--store", other)
		if r.code != 2 || len(r.stdout) != 0 || !strings.Contains(r.stderr, other) || !strings.Contains(r.stderr, confStore) {
			t.Errorf("%s --store %s: exit %d, stdout %q, stderr %q; want 2 naming both stores", name, other, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the disagreeing --store %s was created: %v", other, err)
	}
	// The same store, spelled differently, is fine.
	if r := runIn(t, envStore, order.stdout, "md-order", "--store", confStore+"/."); r.code != 0 {
		t.Errorf("md-order --store %s/.: exit %d\n%s", confStore, r.code, r.stderr)
	}
	// Records from two stores never run together.
	mixed := append(append([]byte{}, parse.stdout...), bytes.ReplaceAll(parse.stdout, []byte(`"one.test"`), []byte(`"two.test"`))...)
	mixed = bytes.Replace(mixed, []byte(confStore), []byte(other), 1)
	if r := runIn(t, envStore, mixed, "md-order", "--dry-run"); r.code != 2 || !strings.Contains(r.stderr, "two stores") {
		t.Errorf("records naming two stores: exit %d, stderr %q; want 2 and \"two stores\"", r.code, r.stderr)
	}
}
