package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
)

// mdRenew runs scripts/md-renew with the built commands first on PATH.
func mdRenew(t *testing.T, store string, extraEnv []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	script := filepath.Join(moduleRoot(), "scripts", "md-renew")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, append([]string{"--store", store}, args...)...)
	cmd.Env = append(append(os.Environ(), "MDTOOLS_BIN="+binDir), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("md-renew: %v", err)
	}
	return code, out.String(), errb.String()
}

// TestTomlCycle runs md-renew, as cron would, on an md.toml for a host
// without Apache: a wildcard proven by dns-01 through the hook script in
// testdata/challenge, an MD answered by tls-alpn-01 on md-order's own
// listener, PEM files deployed for another server; then a second run that
// does nothing, and a run that finds the lock taken.
func TestTomlCycle(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir := t.TempDir()
	storeDir, deploy, events := filepath.Join(dir, "store"), filepath.Join(dir, "deploy"), filepath.Join(dir, "events.log")
	recorder := filepath.Join(dir, "record-event")
	if err := os.WriteFile(recorder, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >> "+events+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(moduleRoot(), "testdata", "challenge", "dns01-hook")
	conf := filepath.Join(dir, "md.toml")
	toml := fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
contact-email = "admin@wild.test"
certificate-agreement = "accepted"
message-cmd = [%q]
deploy-dir = %q
port-map = "http:- https:%d"

[[domain]]
domains = ["wild.test", "*.wild.test"]
private-keys = ["secp256r1"]
ca-challenges = ["dns-01"]
challenge-dns01 = [%q]

[[domain]]
domains = ["alpn.test"]
private-keys = ["RSA 2048", "secp384r1"]
tls-listen = "127.0.0.1:%d"
`, ca.DirectoryURL, ca.RootsFile, recorder, deploy, ca.TLSPort, hook, ca.TLSPort)
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"MD_CHALLTESTSRV=" + strings.TrimPrefix(ca.ChallSrvURL, "http://")}
	args := []string{"--install-args", "--no-verify", conf}

	code, stdout, stderr := mdRenew(t, storeDir, env, args...)
	want := "md-renew: alpn.test: order=ordered install=activated ok\n" +
		"md-renew: wild.test: order=ordered install=activated ok\n" +
		"md-renew: summary: 2 managed domains, 2 ordered, 2 activated, 0 failed; exit 0 (stages: 0 0 0 0)\n"
	if code != 0 || stdout != "" || stderr != want {
		t.Fatalf("md-renew: exit %d stdout %q stderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	// The two MDs are ordered concurrently; each one's events come in
	// mod_md's order.
	data, _ := os.ReadFile(events)
	wantEvents := map[string][]string{
		// one order per key spec, one authorization each
		"alpn.test": {"renewing", "challenge-setup:tls-alpn-01:alpn.test", "challenge-setup:tls-alpn-01:alpn.test", "renewed", "installed"},
		// one order, authorizations for wild.test and *.wild.test
		"wild.test": {"renewing", "challenge-setup:dns-01:wild.test", "challenge-setup:dns-01:wild.test", "renewed", "installed"},
	}
	gotEvents := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		reason, name, _ := strings.Cut(line, " ")
		gotEvents[name] = append(gotEvents[name], reason)
	}
	// alpn.test's second order (its second key spec) may reuse the first
	// one's authorization (see reusedAuthz).
	wantEvents["alpn.test"] = reusedAuthz(gotEvents["alpn.test"], wantEvents["alpn.test"])
	for name, want := range wantEvents {
		if !slices.Equal(gotEvents[name], want) {
			t.Errorf("events of %s: %q; want %q", name, gotEvents[name], want)
		}
	}
	if len(gotEvents) != len(wantEvents) {
		t.Errorf("events: %q", data)
	}

	// The deployed files are the live certificates and keys.
	st, err := store.OpenReadOnly(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ md, spec string }{{"wild.test", "secp256r1"}, {"alpn.test", "rsa"}, {"alpn.test", "secp384r1"}} {
		suffix := ""
		if f.spec != "rsa" {
			suffix = "." + f.spec
		}
		live, err := st.LoadChain(t.Context(), store.GroupDomains, f.md, "pubcert"+suffix+".pem")
		if err != nil {
			t.Fatal(err)
		}
		pemData, err := os.ReadFile(filepath.Join(deploy, f.md, "fullchain"+suffix+".pem"))
		if err != nil {
			t.Fatalf("deployed fullchain of %s %s: %v", f.md, f.spec, err)
		}
		chain, err := store.ParseChainPEM(pemData)
		if err != nil || fingerprint(chain[0]) != fingerprint(live[0]) {
			t.Errorf("%s %s: deployed chain is not the live one (%v)", f.md, f.spec, err)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(deploy, f.md, "fullchain"+suffix+".pem"), filepath.Join(deploy, f.md, "privkey"+suffix+".pem")); err != nil {
			t.Errorf("%s %s: deployed key does not fit: %v", f.md, f.spec, err)
		}
	}
	if live, err := st.LoadChain(t.Context(), store.GroupDomains, "wild.test", "pubcert.secp256r1.pem"); err == nil {
		if err := live[0].VerifyHostname("anything.wild.test"); err != nil {
			t.Errorf("wildcard certificate: %v", err)
		}
	}

	t.Run("second run does nothing", func(t *testing.T) {
		before, _ := os.ReadFile(events)
		// as cron runs it: nothing happened, nothing said
		code, stdout, stderr := mdRenew(t, storeDir, env, args...)
		if code != 0 || stdout != "" || stderr != "" {
			t.Errorf("exit %d stdout %q stderr %q; want 0 and no output", code, stdout, stderr)
		}
		// -v: a line per MD and the summary
		code, _, stderr = mdRenew(t, storeDir, env, append([]string{"-v"}, args...)...)
		want := "md-renew: alpn.test: order=none install=none ok\n" +
			"md-renew: wild.test: order=none install=none ok\n" +
			"md-renew: summary: 2 managed domains, 0 ordered, 0 activated, 0 failed; exit 0 (stages: 0 0 0 0)\n"
		if code != 0 || stderr != want {
			t.Errorf("-v: exit %d stderr:\n%s\nwant:\n%s", code, stderr, want)
		}
		if after, _ := os.ReadFile(events); !bytes.Equal(before, after) {
			t.Errorf("events raised: %s", after[len(before):])
		}
	})

	t.Run("another run holds the lock", func(t *testing.T) {
		f, err := os.OpenFile(filepath.Join(storeDir, ".md-renew.lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := mdRenew(t, storeDir, env, append([]string{"-v"}, args...)...)
		if code != 3 || !strings.Contains(stderr, "another md-renew holds") {
			t.Errorf("exit %d; want 3\n%s", code, stderr)
		}
	})

	t.Run("bad config", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.toml")
		if err := os.WriteFile(bad, []byte("[[domain]]\ndomains = [\"a..test\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := mdRenew(t, storeDir, env, bad)
		if code != 2 || !strings.Contains(stderr, "bad.toml:2") || !strings.Contains(stderr, "summary: 0 managed domains") {
			t.Errorf("exit %d; want 2\n%s", code, stderr)
		}
	})
}
