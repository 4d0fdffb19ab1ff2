package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestRenewalsNeverStuck: renewals that used to fail forever (issue 11
// items 2 and 3), each against a real Pebble over several cycles.
func TestRenewalsNeverStuck(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})

	t.Run("alreadyReplaced after --force and a rejected set", func(t *testing.T) {
		dir := t.TempDir()
		rec := record([]string{ca.DirectoryURL}, "rep.test")
		order := func(what string, args ...string) {
			t.Helper()
			res := runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), args...)...)
			if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
				t.Fatalf("%s: exit %d order %+v error %+v\n%s", what, res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
			}
		}
		order("first order")
		install(t, dir, "rep.test")
		// Cycle 1: a forced renewal replaces the live certificate (ARI
		// "replaces"); forcing again over that staged set names the live
		// certificate a second time, which the CA refuses.
		order("forced renewal", "--force")
		order("forced over the staged set", "--force")
		assertLogged(t, dir, "rep.test", "already has a replacement order")
		install(t, dir, "rep.test")
		// Cycle 2: the new set is replaced, then the staged set is lost
		// (md-install rejected it, or an operator removed it).
		order("forced renewal, cycle 2", "--force")
		if err := os.RemoveAll(filepath.Join(dir, "staging", "rep.test")); err != nil {
			t.Fatal(err)
		}
		// The CA then asks for renewal through ARI: a normal run, not forced.
		chain, err := mustStore(t, dir).LoadChain(t.Context(), store.GroupDomains, "rep.test", "pubcert.pem")
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.SetRenewalInfo(chain[0], time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(filepath.Join(dir, "ari-rep.test.json"))
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered || !strings.Contains(res.recs[0].Order.Reason, "via ARI") ||
			!strings.Contains(res.recs[0].Order.Reason, "without ARI replaces") {
			t.Fatalf("after a lost staged set: exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
		}
	})

	t.Run("live certificate that does not fit its key", func(t *testing.T) {
		dir := t.TempDir()
		rec := record([]string{ca.DirectoryURL}, "km.test")
		if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.code != 0 {
			t.Fatalf("first order: %+v\n%s", res.recs[0].Error, res.stderr)
		}
		install(t, dir, "km.test") // fresh: not due by time
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err := mustStore(t, dir).SaveKey(t.Context(), store.GroupDomains, "km.test", "privkey.pem", other); err != nil {
			t.Fatal(err)
		}
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		o := res.recs[0].Order
		if res.code != 0 || o.Action != acmeflow.ActionOrdered || !strings.Contains(o.Reason, "does not match its private key") ||
			!strings.Contains(res.stderr, "urn:org:mdtools:cert-key-mismatch") {
			t.Fatalf("exit %d order %+v error %+v\n%s", res.code, o, res.recs[0].Error, res.stderr)
		}
		job, _ := mustStore(t, dir).LoadJob(t.Context(), store.GroupStaging, "km.test")
		found := false
		for _, e := range job.Log.Entries {
			found = found || e.Status == "urn:org:mdtools:cert-key-mismatch"
		}
		if !found {
			t.Errorf("job log has no key-mismatch entry: %+v", job.Log.Entries)
		}
	})

	// The dns-01 hook (for runs in other processes) finds challtestsrv
	// through the environment.
	t.Setenv("MD_CHALLTESTSRV", strings.TrimPrefix(ca.ChallSrvURL, "http://"))

	t.Run("each MD renews via ARI with its own account", func(t *testing.T) {
		dir := t.TempDir()
		a, b := record([]string{ca.DirectoryURL}, "acct-a.test"), record([]string{ca.DirectoryURL}, "acct-b.test")
		if res := runOrder(t, jsonl(t, a), caArgs(ca, dir)...); res.code != 0 {
			t.Fatalf("first order of a: %+v\n%s", res.recs[0].Error, res.stderr)
		}
		installAs(t, dir, "acct-a.test", "0000")
		// b gets an account of its own: hide a's while b registers.
		hidden := filepath.Join(t.TempDir(), "hidden")
		acctA := filepath.Join(dir, "accounts", "ACME-127.0.0.1-0000")
		if err := os.Rename(acctA, hidden); err != nil {
			t.Fatal(err)
		}
		if res := runOrder(t, jsonl(t, b), caArgs(ca, dir)...); res.code != 0 {
			t.Fatalf("first order of b: %+v\n%s", res.recs[0].Error, res.stderr)
		}
		installAs(t, dir, "acct-b.test", "0001")
		if err := os.Rename(hidden, acctA); err != nil {
			t.Fatal(err)
		}
		a.CA.Account, b.CA.Account = "ACME-127.0.0.1-0000", "ACME-127.0.0.1-0001" // as md-parse keeps them
		st := mustStore(t, dir)
		for _, name := range []string{"acct-a.test", "acct-b.test"} {
			chain, err := st.LoadChain(t.Context(), store.GroupDomains, name, "pubcert.pem")
			if err != nil {
				t.Fatal(err)
			}
			if err := ca.SetRenewalInfo(chain[0], time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(filepath.Join(dir, "ari-"+name+".json"))
		}
		// One run renews both, each replacing its own certificate.
		res := runOrder(t, jsonl(t, a, b), caArgs(ca, dir)...)
		for _, r := range res.recs {
			if r.Order.Action != acmeflow.ActionOrdered || !strings.Contains(r.Order.Reason, "ARI") || strings.Contains(r.Order.Reason, "without ARI replaces") {
				t.Errorf("%s: order %+v error %+v", r.Name, r.Order, r.Error)
			}
			if sm, err := st.LoadMD(t.Context(), store.GroupStaging, r.Name); err != nil || sm.CA.Account != r.CA.Account {
				t.Errorf("%s: staged with account %+v (%v); want its own %s", r.Name, sm, err, r.CA.Account)
			}
		}
		if res.code != 0 {
			t.Errorf("exit %d\n%s", res.code, res.stderr)
		}
	})

	t.Run("concurrent first runs register one account", func(t *testing.T) {
		hook, _ := filepath.Abs("../../testdata/challenge/dns01-hook")
		for trial := 0; trial < 4; trial++ {
			dir := t.TempDir()
			cmds := make([]*exec.Cmd, 3)
			for i := range cmds {
				r := record([]string{ca.DirectoryURL}, fmt.Sprintf("c%d.t%d.first.test", i, trial))
				r.CmdDNS01, r.CA.Challenges = hook, []string{"dns-01"}
				cmds[i] = exec.Command(os.Args[0], "--store", dir, "--ca-file", ca.RootsFile)
				cmds[i].Env = append(os.Environ(), "MDORDER_TEST_AS_MAIN=1")
				cmds[i].Stdin = strings.NewReader(jsonl(t, r))
				cmds[i].Stdout, cmds[i].Stderr = io.Discard, io.Discard
			}
			for _, c := range cmds {
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
			}
			for i, c := range cmds {
				if err := c.Wait(); err != nil {
					t.Fatalf("trial %d run %d: %v", trial, i, err)
				}
			}
			urls := map[string]bool{}
			st := mustStore(t, dir)
			names, _ := st.List(t.Context(), store.GroupStaging)
			for _, n := range names {
				var f acmeflow.AccountFile
				if err := st.LoadJSON(t.Context(), store.GroupStaging, n, store.FileAccount, &f); err == nil {
					urls[f.URL] = true
				}
			}
			if len(names) != 3 || len(urls) != 1 {
				t.Errorf("trial %d: %d staged MDs with accounts %v; want 3 sharing one account", trial, len(names), urls)
			}
		}
	})
}

// installAs moves a staged set live as md-install does, saving a staged
// account as accounts/ACME-127.0.0.1-<n>.
func installAs(t *testing.T, dir, name, n string) {
	t.Helper()
	st := mustStore(t, dir)
	var f acmeflow.AccountFile
	if err := st.LoadJSON(t.Context(), store.GroupStaging, name, store.FileAccount, &f); err == nil {
		key, err := st.LoadKey(t.Context(), store.GroupStaging, name, store.FileAccountKey)
		if err != nil {
			t.Fatal(err)
		}
		id := md.AccountIDPrefix(f.CAURL) + n
		if err := st.SaveJSON(t.Context(), store.GroupAccounts, id, store.FileAccount, &f); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveKey(t.Context(), store.GroupAccounts, id, store.FileAccountKey, key); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{store.FileAccount, store.FileAccountKey} {
			_ = st.Remove(t.Context(), store.GroupStaging, name, f)
		}
	}
	install(t, dir, name)
}

// assertLogged checks that the MD's staged job log has an entry with text.
func assertLogged(t *testing.T, dir, name, text string) {
	t.Helper()
	job, err := mustStore(t, dir).LoadJob(t.Context(), store.GroupStaging, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range job.Log.Entries {
		if strings.Contains(e.Detail, text) {
			return
		}
	}
	t.Errorf("the job log of %s has no entry with %q: %+v", name, text, job.Log.Entries)
}
