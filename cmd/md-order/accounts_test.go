package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// runAccounts runs "md-order accounts ARGS" in-process.
func runAccounts(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-order", "accounts"}, args...),
		cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func listAccounts(t *testing.T, dir string) []acmeflow.AccountInfo {
	t.Helper()
	code, out, stderr := runAccounts(t, "list", "--store", dir)
	if code != 0 {
		t.Fatalf("accounts list: exit %d\n%s", code, stderr)
	}
	var infos []acmeflow.AccountInfo
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var i acmeflow.AccountInfo
		if err := dec.Decode(&i); err != nil {
			t.Fatalf("accounts list output: %v\n%s", err, out)
		}
		infos = append(infos, i)
	}
	return infos
}

// caKnows asks Pebble which account, if any, it knows by key
// (newAccount with onlyReturnExisting).
func caKnows(t *testing.T, ca *devca.CA, key crypto.Signer) (*acme.Account, error) {
	t.Helper()
	c := &acme.Client{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient(), Key: key}
	return c.GetReg(t.Context(), "")
}

func accountKeys(t *testing.T, st *store.Store, id string) (cur, staged crypto.Signer) {
	t.Helper()
	cur, err := st.LoadKey(t.Context(), store.GroupAccounts, id, store.FileAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	staged, err = st.LoadKey(t.Context(), store.GroupAccounts, id, acmeflow.FileAccountNewKey)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return cur, staged
}

// killedRollover runs "md-order accounts rollover ID" as its own process,
// killed (SIGKILL) right after the CA accepted the new key.
func killedRollover(t *testing.T, ca *devca.CA, dir, id string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "accounts", "rollover", "--store", dir, "--ca-file", ca.RootsFile, id)
	cmd.Env = append(os.Environ(), "MDORDER_TEST_AS_MAIN=1", "MDORDER_TEST_KILL_AT=rollover")
	err := cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("rollover was not killed at the kill point: %v", err)
	}
}

// TestAccountsLifecycle against a real Pebble: list (JSON and table), a
// contact change that updates the account instead of registering a new
// one, key rollovers killed between the CA's answer and the store write
// (finished once by md-order's next use, once by the next rollover), a
// plain rollover, and a deactivation after which the MD registers anew.
func TestAccountsLifecycle(t *testing.T) {
	ca := devca.StartT(t, devca.Options{KeyAlgorithm: "rsa"})
	dir := t.TempDir()
	const name = "acct.test"
	rec := record([]string{ca.DirectoryURL}, name)
	rec.ARIRenewals = false
	order := func(step string) {
		t.Helper()
		res := runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), "--force")...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
			t.Fatalf("%s: order exit %d %+v %+v\n%s", step, res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
		}
		install(t, dir, name)
	}
	order("first")
	st := mustStore(t, dir)
	m, err := st.LoadMD(t.Context(), store.GroupDomains, name)
	if err != nil {
		t.Fatal(err)
	}
	infos := listAccounts(t, dir)
	if len(infos) != 1 || infos[0].Status != "valid" || infos[0].URL == "" || infos[0].Key != "RSA 2048" {
		t.Fatalf("accounts: %+v", infos)
	}
	id, url := infos[0].ID, infos[0].URL
	m.CA.Account = id
	if err := st.SaveMD(t.Context(), store.GroupDomains, m); err != nil {
		t.Fatal(err)
	}
	if infos := listAccounts(t, dir); len(infos[0].MDs) != 1 || infos[0].MDs[0] != name || infos[0].Contacts[0] != "mailto:admin@example.org" {
		t.Fatalf("accounts after ca.account: %+v", infos)
	}
	if code, out, _ := runAccounts(t, "--table", "--store", dir); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, name) || !strings.HasPrefix(out, "ID") {
		t.Errorf("table: exit %d\n%s", code, out)
	}

	// MDContactEmail changed: the account is updated, not replaced.
	rec.Contacts = []string{"mailto:new@example.org"}
	order("contact change")
	infos = listAccounts(t, dir)
	if len(infos) != 1 || infos[0].URL != url || strings.Join(infos[0].Contacts, ",") != "mailto:new@example.org" {
		t.Fatalf("after the contact change: %+v", infos)
	}
	cur, _ := accountKeys(t, st, id)
	if got, err := caKnows(t, ca, cur); err != nil || got.URI != url || strings.Join(got.Contact, ",") != "mailto:new@example.org" {
		t.Fatalf("Pebble's account: %+v %v", got, err)
	}

	// Another MD of the store uses the account with other contacts: no
	// update (two MDs would switch it back and forth), the account is kept.
	other := *m
	other.Name, other.Domains, other.Contacts = "other.test", []string{"other.test"}, []string{"mailto:other@example.org"}
	if err := st.SaveMD(t.Context(), store.GroupDomains, &other); err != nil {
		t.Fatal(err)
	}
	rec.Contacts = []string{"mailto:third@example.org"}
	order("contacts shared")
	if infos := listAccounts(t, dir); len(infos) != 1 || infos[0].URL != url || strings.Join(infos[0].Contacts, ",") != "mailto:new@example.org" || len(infos[0].MDs) != 2 {
		t.Fatalf("a shared account was updated or replaced: %+v", infos)
	}
	if err := st.Purge(t.Context(), store.GroupDomains, "other.test"); err != nil {
		t.Fatal(err)
	}
	rec.Contacts = []string{"mailto:new@example.org"}

	// Killed after the CA switched keys: both keys on disk, the CA knows
	// only the new one; md-order's next use finishes the switch.
	for i, finish := range []string{"md-order", "rollover"} {
		old, _ := accountKeys(t, st, id)
		killedRollover(t, ca, dir, id)
		cur, staged := accountKeys(t, st, id)
		if staged == nil || !cur.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(old.Public()) {
			t.Fatalf("%d: after the kill: staged %v, account.pem changed: %v", i, staged != nil, cur != old)
		}
		if _, err := caKnows(t, ca, old); !errors.Is(err, acme.ErrNoAccount) {
			t.Fatalf("%d: Pebble still knows the old key: %v", i, err)
		}
		if got, err := caKnows(t, ca, staged); err != nil || got.URI != url {
			t.Fatalf("%d: Pebble does not know the staged key: %+v %v", i, got, err)
		}
		if infos := listAccounts(t, dir); !infos[0].RolloverPending {
			t.Errorf("%d: list does not show the pending rollover: %+v", i, infos[0])
		}
		switch finish {
		case "md-order":
			order("after a killed rollover")
		case "rollover":
			code, out, stderr := runAccounts(t, "rollover", "--store", dir, "--ca-file", ca.RootsFile, id)
			if code != 0 || !strings.Contains(out, `"action":"recovered"`) {
				t.Fatalf("rollover after the kill: exit %d %s\n%s", code, out, stderr)
			}
		}
		cur, staged = accountKeys(t, st, id)
		if staged != nil || !cur.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(mustStaged(t, ca, url, cur)) {
			t.Fatalf("%d: after %s: staged key left %v", i, finish, staged != nil)
		}
		if infos := listAccounts(t, dir); len(infos) != 1 || infos[0].URL != url {
			t.Fatalf("%d: after %s the account is not the same: %+v", i, finish, infos)
		}
	}

	// A plain rollover, then an order with the new key.
	old, _ := accountKeys(t, st, id)
	if code, out, stderr := runAccounts(t, "rollover", "--store", dir, "--ca-file", ca.RootsFile, id); code != 0 || !strings.Contains(out, `"action":"rolled-over"`) {
		t.Fatalf("rollover: exit %d %s\n%s", code, out, stderr)
	}
	if _, err := caKnows(t, ca, old); !errors.Is(err, acme.ErrNoAccount) {
		t.Fatalf("Pebble still knows the old key: %v", err)
	}
	order("after rollover")
	if infos := listAccounts(t, dir); len(infos) != 1 || infos[0].URL != url {
		t.Fatalf("after rollover: %+v", infos)
	}

	// Deactivation: only with --yes; afterwards the MD registers anew.
	if code, out, stderr := runAccounts(t, "deactivate", "--store", dir, id); code != cli.ExitUsage || out != "" || !strings.Contains(stderr, "--yes") {
		t.Fatalf("deactivate without --yes: exit %d %q %q", code, out, stderr)
	}
	if code, out, stderr := runAccounts(t, "deactivate", "--yes", "--store", dir, "--ca-file", ca.RootsFile, id); code != 0 || !strings.Contains(out, `"status":"deactivated"`) {
		t.Fatalf("deactivate: exit %d %s\n%s", code, out, stderr)
	}
	cur, _ = accountKeys(t, st, id)
	if got, err := caKnows(t, ca, cur); err == nil && got.Status != "deactivated" {
		t.Fatalf("Pebble's account after deactivation: %+v", got)
	}
	order("after deactivation")
	infos = listAccounts(t, dir)
	if len(infos) != 2 {
		t.Fatalf("after deactivation: %+v; want the deactivated one and a new one", infos)
	}
	for _, i := range infos {
		if (i.ID == id) != (i.Status == acmeflow.StatusDeactivated) || i.ID != id && i.URL == url {
			t.Errorf("account %+v", i)
		}
	}
	if code, _, stderr := runAccounts(t, "rollover", "--store", dir, "--ca-file", ca.RootsFile, id); code != 1 || !strings.Contains(stderr, "deactivated") {
		t.Errorf("rollover of a deactivated account: exit %d %s", code, stderr)
	}
}

// mustStaged returns the public key Pebble has for the account url: the
// store's current key must be it.
func mustStaged(t *testing.T, ca *devca.CA, url string, cur crypto.Signer) crypto.PublicKey {
	t.Helper()
	got, err := caKnows(t, ca, cur)
	if err != nil || got.URI != url {
		t.Fatalf("Pebble does not know the stored key: %+v %v", got, err)
	}
	return cur.Public()
}

// TestAccountsUsage: bad arguments are usage errors, said before the
// store or the CA is touched.
func TestAccountsUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lst", "--store", dir}, `unknown accounts command "lst"`},
		{[]string{"show", "--store", dir}, "want one account ID"},
		{[]string{"rollover", "--store", dir, "../x"}, "account ID"},
		{[]string{"update-contacts", "--store", dir, "ACME-x-0000"}, "needs --contact"},
		{[]string{"deactivate", "--store", dir, "ACME-x-0000"}, "add --yes"},
	} {
		code, out, stderr := runAccounts(t, tc.args...)
		if code != cli.ExitUsage || out != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q %q; want 2 and %q", tc.args, code, out, stderr, tc.want)
		}
	}
	if code, out, stderr := runAccounts(t, "show", "--store", dir, "ACME-x-0000"); code != cli.ExitFailed || out != "" || !strings.Contains(stderr, "no account ACME-x-0000") {
		t.Errorf("show unknown: exit %d %q %q", code, out, stderr)
	}
	if infos := listAccounts(t, dir); len(infos) != 0 {
		t.Errorf("empty store lists %+v", infos)
	}
}
