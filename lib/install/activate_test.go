package install

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

func TestActivateFirstThenRenewal(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	rec := testRecord("a.test", md.KeySpecs{ecSpec}, "a.test", "www.a.test")
	// md-parse synced the MD: domains/a.test/md.json, no certificate yet.
	synced := rec.MD
	synced.State = md.StateIncomplete
	if err := st.SaveMD(t.Context(), store.GroupDomains, &synced); err != nil {
		t.Fatal(err)
	}
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)
	if err := st.Write(t.Context(), store.GroupChallenges, "www.a.test", store.FileHTTP01, []byte("x")); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := run(t, st, now, rec); err != nil {
		t.Fatal(err)
	}
	in := rec.Install
	if rec.Error != nil || in == nil || in.Action != "activated" || in.Archive != "a.test.1" {
		t.Fatalf("record: error %+v install %+v", rec.Error, in)
	}
	if got, want := liveFingerprint(t, st, "a.test", ecSpec), Fingerprint(creds[0].chain[0]); got != want {
		t.Errorf("live cert %s; want %s", got, want)
	}
	if len(in.Certs) != 1 || in.Certs[0].SHA256 != Fingerprint(creds[0].chain[0]) || in.Certs[0].Spec != "P-256" {
		t.Errorf("install.certs = %+v", in.Certs)
	}
	// keys in domains/ are plain PKCS#8, 0600
	keyPath := filepath.Join(dir, "domains", "a.test", "privkey.p-256.pem")
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(data); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("live key is not a plain PKCS#8 PEM")
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("live key mode %v", fi.Mode().Perm())
	}
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	if m.State != md.StateComplete || m.StateDescr != "" || m.CA.URL != "https://127.0.0.1:14000/dir" {
		t.Errorf("live md.json: state %d %q ca %+v", m.State, m.StateDescr, m.CA)
	}
	job, err := st.LoadJob(t.Context(), store.GroupDomains, "a.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := job.LastEntry("message-installed"); !ok {
		t.Errorf("job log has no message-installed: %+v", job.Log.Entries)
	}
	if job.Last == nil || job.Last.Detail != "new certificate successfully saved in domains" {
		t.Errorf("job last = %+v", job.Last)
	}
	for _, g := range []store.Group{store.GroupStaging, store.GroupTmp, store.GroupChallenges} {
		if names, _ := st.List(t.Context(), g); len(names) != 0 {
			t.Errorf("%s not purged: %v", g, names)
		}
	}
	if old, err := st.LoadMD(t.Context(), store.GroupArchive, "a.test.1"); err != nil || old.State != md.StateIncomplete {
		t.Errorf("archive/a.test.1: %v %+v", err, old)
	}

	// A second renewal swaps again and archives the first certificate.
	rec2 := testRecord("a.test", md.KeySpecs{ecSpec}, "a.test", "www.a.test")
	creds2 := freshCreds(t, rec2)
	stageSet(t, st, rec2, creds2)
	if err := run(t, st, time.Now(), rec2); err != nil {
		t.Fatal(err)
	}
	if rec2.Install.Action != "activated" || rec2.Install.Archive != "a.test.2" {
		t.Fatalf("second: %+v %+v", rec2.Install, rec2.Error)
	}
	if got := liveFingerprint(t, st, "a.test", ecSpec); got != Fingerprint(creds2[0].chain[0]) {
		t.Errorf("second activation did not swap the cert")
	}
	chain, err := st.LoadChain(t.Context(), store.GroupArchive, "a.test.2", ecSpec.FileName("pubcert"))
	if err != nil || Fingerprint(chain[0]) != Fingerprint(creds[0].chain[0]) {
		t.Errorf("archive/a.test.2 does not hold the first cert: %v", err)
	}
}

func TestNothingStagedWritesNothing(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	rec := testRecord("n.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	rec2 := testRecord("n.test", md.KeySpecs{ecSpec})
	if err := run(t, st, time.Now(), rec2); err != nil {
		t.Fatal(err)
	}
	if rec2.Install.Action != "none" || rec2.Error != nil {
		t.Errorf("install %+v error %+v", rec2.Install, rec2.Error)
	}
	if len(rec2.Install.Certs) != 1 {
		t.Errorf("certs of the live set not reported: %+v", rec2.Install.Certs)
	}
	if after := tree(t, dir); after != before {
		t.Errorf("a run with nothing staged changed the store:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

func TestMultipleKeySpecsAndAccount(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	rsaSpec := md.KeySpec{Type: md.KeyRSA, Bits: 2048}
	recs := []*md.Record{
		testRecord("k1.test", md.KeySpecs{rsaSpec, ecSpec}),
		testRecord("k2.test", md.KeySpecs{ecSpec}),
		testRecord("k3.test", md.KeySpecs{ecSpec}),
	}
	acctKey := newKey(t, ecSpec)
	otherKey := newKey(t, ecSpec)
	for i, rec := range recs {
		stageSet(t, st, rec, freshCreds(t, rec))
		// k1 and k2 staged the same new account; k3 another one.
		url, key := "https://127.0.0.1:14000/my-account/1", acctKey
		if i == 2 {
			url, key = "https://127.0.0.1:14000/my-account/2", otherKey
		}
		acct := `{"status":"valid","url":"` + url + `","ca-url":"https://127.0.0.1:14000/dir","contact":["mailto:a@example.org"]}`
		if err := st.Write(t.Context(), store.GroupStaging, rec.Name, store.FileAccount, []byte(acct)); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveKey(t.Context(), store.GroupStaging, rec.Name, store.FileAccountKey, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(t, st, time.Now(), recs...); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k1.test": "ACME-127.0.0.1-0000", "k2.test": "ACME-127.0.0.1-0000", "k3.test": "ACME-127.0.0.1-0001"}
	for _, rec := range recs {
		if rec.Error != nil || rec.Install.Action != "activated" {
			t.Fatalf("%s: %+v %+v", rec.Name, rec.Install, rec.Error)
		}
		m, err := st.LoadMD(t.Context(), store.GroupDomains, rec.Name)
		if err != nil {
			t.Fatal(err)
		}
		if m.CA.Account != want[rec.Name] {
			t.Errorf("%s: ca.account %q; want %q", rec.Name, m.CA.Account, want[rec.Name])
		}
	}
	if len(recs[0].Install.Certs) != 2 || recs[0].Install.Certs[0].Spec != "rsa" || recs[0].Install.Certs[1].Spec != "P-256" {
		t.Errorf("k1 certs: %+v", recs[0].Install.Certs)
	}
	ids, _ := st.List(t.Context(), store.GroupAccounts)
	if strings.Join(ids, ",") != "ACME-127.0.0.1-0000,ACME-127.0.0.1-0001" {
		t.Errorf("accounts: %v", ids)
	}
	k, err := st.LoadKey(t.Context(), store.GroupAccounts, "ACME-127.0.0.1-0001", store.FileAccountKey)
	if err != nil || !publicKeysEqual(k.Public(), otherKey.Public()) {
		t.Errorf("account key of -0001 is not k3's: %v", err)
	}
	raw, _ := os.ReadFile(filepath.Join(st.String(), "accounts", "ACME-127.0.0.1-0000", "account.pem"))
	if !bytes.Contains(raw, []byte("ENCRYPTED PRIVATE KEY")) {
		t.Errorf("account key in accounts/ is not encrypted")
	}
	// a later MD that staged no account gets the valid one for its CA
	rec4 := testRecord("k4.test", md.KeySpecs{ecSpec})
	stageSet(t, st, rec4, freshCreds(t, rec4))
	if err := run(t, st, time.Now(), rec4); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.LoadMD(t.Context(), store.GroupDomains, "k4.test"); m == nil || m.CA.Account != "ACME-127.0.0.1-0000" {
		t.Errorf("k4 ca.account = %+v", m)
	}
}

// TestLiveAccountIsTheOrderingOne: the live md.json names the account that
// ordered the activated certificates (the staged ca.account), not an older
// one the record still carries, so that the next ARI renewal replaces them
// with the right account (issue 11 item 2).
func TestLiveAccountIsTheOrderingOne(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	rec := testRecord("acct.test", md.KeySpecs{ecSpec})
	rec.CA.Account = "ACME-127.0.0.1-0000" // what md-parse kept from the old live set
	stageSet(t, st, rec, freshCreds(t, rec))
	sm, err := st.LoadMD(t.Context(), store.GroupStaging, rec.Name)
	if err != nil {
		t.Fatal(err)
	}
	sm.CA.Account = "ACME-127.0.0.1-0001" // md-order ordered with this one
	if err := st.SaveMD(t.Context(), store.GroupStaging, sm); err != nil {
		t.Fatal(err)
	}
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if m, err := st.LoadMD(t.Context(), store.GroupDomains, rec.Name); err != nil || m.CA.Account != "ACME-127.0.0.1-0001" {
		t.Errorf("live md.json %+v (%v); want ca.account ACME-127.0.0.1-0001", m, err)
	}
}

func TestAllFromStore(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	a := testRecord("all-a.test", md.KeySpecs{ecSpec})
	b := testRecord("all-b.test", md.KeySpecs{ecSpec})
	stageSet(t, st, a, freshCreds(t, a))
	stageSet(t, st, b, freshCreds(t, b))
	if err := run(t, st, time.Now(), a); err != nil {
		t.Fatal(err)
	}
	recs, err := StoreRecords(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if err := Run(context.Background(), Options{Store: st, NoVerify: true}, recs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs {
		got[r.Name] = r.Install.Action
	}
	if got["all-a.test"] != "none" || got["all-b.test"] != "activated" {
		t.Errorf("actions %v", got)
	}
	out, _ := json.Marshal(recs[1])
	if !bytes.Contains(out, []byte(`"install":{"action":"activated"`)) {
		t.Errorf("record JSON: %s", out)
	}
}

func TestDuplicateRecord(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	rec := testRecord("dup.test", md.KeySpecs{ecSpec})
	stageSet(t, st, rec, freshCreds(t, rec))
	a, b := testRecord("dup.test", md.KeySpecs{ecSpec}), testRecord("dup.test", md.KeySpecs{ecSpec})
	if err := run(t, st, time.Now(), a, b); err != nil {
		t.Fatal(err)
	}
	if a.Install.Action != "activated" || a.Error != nil {
		t.Errorf("first: %+v %+v", a.Install, a.Error)
	}
	if b.Install.Action != "failed" || b.Error == nil || b.Error.Problem != "install-duplicate" {
		t.Errorf("second: %+v %+v", b.Install, b.Error)
	}
}

// Output of an earlier md-install fed back in: its install section and
// error are replaced, an earlier stage's error is kept.
func TestStaleInstallSectionReplaced(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	served := false
	a := testRecord("stale.test", md.KeySpecs{ecSpec})
	a.Install = &md.InstallResult{Action: "failed", Served: &served}
	a.Error = &md.StageError{Stage: "install", Problem: ProblemNotServed, Detail: "old"}
	b := testRecord("stale2.test", md.KeySpecs{ecSpec})
	b.Error = &md.StageError{Stage: "order", Problem: "urn:ietf:params:acme:error:rateLimited", Detail: "slow down"}
	if err := run(t, st, time.Now(), a, b); err != nil {
		t.Fatal(err)
	}
	if a.Install.Action != "none" || a.Install.Served != nil || a.Error != nil {
		t.Errorf("a: %+v %+v", a.Install, a.Error)
	}
	if b.Error == nil || b.Error.Stage != "order" {
		t.Errorf("md-order's error lost: %+v", b.Error)
	}
}
