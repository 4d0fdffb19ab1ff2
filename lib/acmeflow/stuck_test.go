package acmeflow_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/devca"
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
		res := runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), "--force")...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered || !strings.Contains(res.recs[0].Order.Reason, "without ARI replaces") {
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
		if err := mustStore(t, dir).SaveKey(store.GroupDomains, "km.test", "privkey.pem", other); err != nil {
			t.Fatal(err)
		}
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		o := res.recs[0].Order
		if res.code != 0 || o.Action != acmeflow.ActionOrdered || !strings.Contains(o.Reason, "does not match its private key") ||
			!strings.Contains(res.stderr, "urn:org:mdtools:cert-key-mismatch") {
			t.Fatalf("exit %d order %+v error %+v\n%s", res.code, o, res.recs[0].Error, res.stderr)
		}
	})
}

// assertLogged checks that the MD's staged job log has an entry with text.
func assertLogged(t *testing.T, dir, name, text string) {
	t.Helper()
	job, err := mustStore(t, dir).LoadJob(store.GroupStaging, name)
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
