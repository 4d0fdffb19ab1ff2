package install

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// badSet builds a staged set that must be rejected.
type badSet struct {
	name  string
	build func(t *testing.T, st *store.Store, rec *md.Record) // writes staging
	now   func(good []stagedCred) time.Time
	want  string
}

func TestBadStagedSetsRejected(t *testing.T) {
	t.Parallel()
	rec0 := testRecord("bad.test", md.KeySpecs{ecSpec})
	good := freshCreds(t, rec0)   // the live set
	staged := freshCreds(t, rec0) // a valid renewal, to be damaged
	other := freshCreds(t, testRecord("other.test", md.KeySpecs{ecSpec}))
	cases := []badSet{
		{name: "wrong key", want: "does not match the private key", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, []stagedCred{{spec: ecSpec, key: newKey(t, ecSpec), chain: staged[0].chain}})
		}},
		{name: "truncated PEM", want: "pubcert", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
			data, _ := st.Read(t.Context(), store.GroupStaging, rec.Name, ecSpec.FileName("pubcert"))
			if err := st.Write(t.Context(), store.GroupStaging, rec.Name, ecSpec.FileName("pubcert"), data[:len(data)/2]); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "cert for other names", want: "does not cover bad.test", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, other)
		}},
		{name: "expired cert", want: "expired", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
		}, now: func([]stagedCred) time.Time { return staged[0].chain[0].NotAfter.Add(time.Hour) }},
		{name: "no chain", want: "without its issuer chain", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, []stagedCred{{spec: ecSpec, key: staged[0].key, chain: staged[0].chain[:1]}})
		}},
		{name: "missing key spec", want: "no rsa certificate", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			rec.PrivKey = md.KeySpecs{ecSpec, {Type: md.KeyRSA, Bits: 2048}}
			stageSet(t, st, rec, staged)
		}},
		{name: "garbage md.json", want: "md.json", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
			if err := st.Write(t.Context(), store.GroupStaging, rec.Name, store.FileMD, []byte("{garbage")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "missing key", want: "private key", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
			if err := st.Remove(t.Context(), store.GroupStaging, rec.Name, ecSpec.FileName("privkey")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			rec := testRecord("bad.test", md.KeySpecs{ecSpec})
			stageSet(t, st, rec, good)
			if err := run(t, st, time.Now(), testRecord("bad.test", md.KeySpecs{ecSpec})); err != nil {
				t.Fatal(err)
			}
			liveBefore := tree(t, filepath.Join(dir, "domains", "bad.test"))
			tc.build(t, st, rec)
			now := time.Now()
			if tc.now != nil {
				now = tc.now(good)
			}
			if err := run(t, st, now, rec); err != nil {
				t.Fatal(err)
			}
			if rec.Error == nil || rec.Error.Problem != ProblemInvalidStaging || !strings.Contains(rec.Error.Detail, tc.want) {
				t.Fatalf("error = %+v; want %s containing %q", rec.Error, ProblemInvalidStaging, tc.want)
			}
			if rec.Install.Action != "rejected" {
				t.Errorf("action %q", rec.Install.Action)
			}
			liveAfter := tree(t, filepath.Join(dir, "domains", "bad.test"))
			liveAfterNoJob := dropLine(liveAfter, "job.json")
			if dropLine(liveBefore, "job.json") != liveAfterNoJob {
				t.Errorf("live set changed:\n%s\n---\n%s", liveBefore, liveAfter)
			}
			if got := liveFingerprint(t, st, "bad.test", ecSpec); got != Fingerprint(good[0].chain[0]) {
				t.Errorf("live cert replaced")
			}
			job, _ := st.LoadJob(t.Context(), store.GroupDomains, "bad.test")
			e, ok := job.LastEntry("install-error")
			if !ok || e.Status != ProblemInvalidStaging || !strings.Contains(e.Detail, tc.want) {
				t.Errorf("job log: %+v", job.Log.Entries)
			}
			if st.Exists(t.Context(), store.GroupStaging, "bad.test", store.FileMD) {
				t.Errorf("rejected staged set not purged")
			}
		})
	}
}

func dropLine(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNotReadyIsKept(t *testing.T) {
	t.Parallel()
	rec := testRecord("w.test", md.KeySpecs{ecSpec})
	live := freshCreds(t, rec)
	next := freshCreds(t, rec)
	nb := next[0].chain[0].NotBefore
	tests := []struct {
		name    string
		now     time.Time
		delay   string
		wantAct string
		ready   time.Time
	}{
		{"before notBefore", nb.Add(-time.Hour), "", "waiting", nb},
		{"activation delay", nb.Add(time.Hour), "2d", "waiting", nb.Add(48 * time.Hour)},
		{"delay over", nb.Add(49 * time.Hour), "2d", "activated", time.Time{}},
		{"no delay", nb.Add(time.Minute), "", "activated", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := openStore(t)
			stageSet(t, st, rec, live)
			if err := run(t, st, live[0].chain[0].NotBefore.Add(time.Minute), testRecord("w.test", md.KeySpecs{ecSpec})); err != nil {
				t.Fatal(err)
			}
			stageSet(t, st, rec, next)
			r := testRecord("w.test", md.KeySpecs{ecSpec})
			r.Settings = &md.Settings{ActivationDelay: tc.delay}
			if err := run(t, st, tc.now, r); err != nil {
				t.Fatal(err)
			}
			if r.Install.Action != tc.wantAct || r.Error != nil {
				t.Fatalf("install %+v error %+v", r.Install, r.Error)
			}
			if !tc.ready.IsZero() && !r.Install.ReadyAt.Equal(tc.ready.Truncate(time.Second)) {
				t.Errorf("ready-at %v; want %v", r.Install.ReadyAt, tc.ready)
			}
			stagedStill := st.Exists(t.Context(), store.GroupStaging, "w.test", store.FileMD)
			if stagedStill != (tc.wantAct == "waiting") {
				t.Errorf("staging kept = %v", stagedStill)
			}
		})
	}
}

func TestUnfinishedStagingLeftToMdOrder(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	rec := testRecord("u.test", md.KeySpecs{ecSpec})
	stageSet(t, st, rec, freshCreds(t, rec))
	job := &md.Job{Name: "u.test"} // md-order still at work
	if err := st.SaveJob(t.Context(), store.GroupStaging, "u.test", job); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Install.Action != "none" || rec.Error != nil {
		t.Errorf("install %+v error %+v", rec.Install, rec.Error)
	}
	if tree(t, dir) != before {
		t.Errorf("an unfinished staged set was touched")
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

func TestDeployFiles(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	deployDir := filepath.Join(t.TempDir(), "certs")
	rsaSpec := md.KeySpec{Type: md.KeyRSA, Bits: 2048}
	rec := testRecord("d.test", md.KeySpecs{rsaSpec, ecSpec})
	rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deployDir, "d.test"), Mode: "0640", KeyMode: "0600"}}
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Error != nil || rec.Install.Deploy != filepath.Join(deployDir, "d.test") {
		t.Fatalf("install %+v error %+v", rec.Install, rec.Error)
	}
	checkDeploy(t, deployDir, "d.test", creds)
	first, _ := os.Readlink(filepath.Join(deployDir, "d.test"))
	if !strings.HasPrefix(first, ".d.test.") || strings.Contains(first, "/") {
		t.Errorf("symlink target %q; want a hidden sibling", first)
	}

	rec2 := testRecord("d.test", md.KeySpecs{rsaSpec, ecSpec})
	rec2.Host = rec.Host
	creds2 := freshCreds(t, rec2)
	stageSet(t, st, rec2, creds2)
	if err := run(t, st, time.Now(), rec2); err != nil {
		t.Fatal(err)
	}
	checkDeploy(t, deployDir, "d.test", creds2)
	second, _ := os.Readlink(filepath.Join(deployDir, "d.test"))
	if first == second {
		t.Errorf("symlink not flipped")
	}
	if _, err := os.Stat(filepath.Join(deployDir, first)); !os.IsNotExist(err) {
		t.Errorf("previous deploy set not removed: %v", err)
	}
	// A deploy removed by hand is restored from the live set.
	os.Remove(filepath.Join(deployDir, "d.test"))
	rec3 := testRecord("d.test", md.KeySpecs{rsaSpec, ecSpec})
	rec3.Host = rec.Host
	if err := run(t, st, time.Now(), rec3); err != nil {
		t.Fatal(err)
	}
	checkDeploy(t, deployDir, "d.test", creds2)
	if entries, _ := os.ReadDir(deployDir); len(entries) != 2 {
		t.Errorf("deploy dir holds %d entries; want the symlink and one set", len(entries))
	}
}

func checkDeploy(t *testing.T, dir, name string, creds []stagedCred) {
	t.Helper()
	for _, c := range creds {
		read := func(base string) []byte {
			p := filepath.Join(dir, name, c.spec.FileName(base))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(p)
			want := os.FileMode(0o640)
			if base == "privkey" || base == "combined" {
				want = 0o600
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s mode %v; want %v", p, fi.Mode().Perm(), want)
			}
			return b
		}
		cert, chain, full, key, combined := read("cert"), read("chain"), read("fullchain"), read("privkey"), read("combined")
		leaf, err := store.ParseChainPEM(cert)
		if err != nil || len(leaf) != 1 || !bytes.Equal(leaf[0].Raw, c.chain[0].Raw) {
			t.Errorf("%s cert.pem wrong: %v", c.spec.Name(), err)
		}
		if ch, err := store.ParseChainPEM(chain); err != nil || len(ch) != len(c.chain)-1 {
			t.Errorf("chain.pem: %v", err)
		}
		if !bytes.Equal(full, append(append([]byte{}, cert...), chain...)) {
			t.Errorf("fullchain.pem is not cert+chain")
		}
		k, err := store.ParseKeyPEM(key, nil)
		if err != nil || !publicKeysEqual(k.Public(), c.chain[0].PublicKey) {
			t.Errorf("privkey.pem does not match: %v", err)
		}
		// combined = fullchain + key, parseable as a TLS key pair
		if !bytes.HasPrefix(combined, full) || !bytes.HasSuffix(combined, key) {
			t.Errorf("combined.pem is not fullchain+key")
		}
		var certs []*x509.Certificate
		rest := combined
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				c, _ := x509.ParseCertificate(b.Bytes)
				certs = append(certs, c)
			}
		}
		if len(certs) != len(c.chain) {
			t.Errorf("combined.pem has %d certs", len(certs))
		}
	}
}

func TestDeployOwnerAndRefusals(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	base := t.TempDir()
	rec := testRecord("o.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)

	// a real directory where the symlink belongs: refused, nothing activated
	blocked := filepath.Join(base, "o.test")
	if err := os.MkdirAll(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: blocked}}
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Error == nil || rec.Error.Problem != ProblemDeploy || !strings.Contains(rec.Error.Detail, "not a symlink made by md-install") {
		t.Fatalf("error %+v", rec.Error)
	}
	if st.Exists(t.Context(), store.GroupDomains, "o.test", ecSpec.FileName("pubcert")) || !st.Exists(t.Context(), store.GroupStaging, "o.test", store.FileMD) {
		t.Fatalf("a failed deploy must leave the staged set for the next run")
	}
	for _, tc := range []struct{ mode, want string }{{"0x1", "octal"}, {"1777", "octal"}} {
		r := testRecord("o.test", md.KeySpecs{ecSpec})
		r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(base, "other"), Mode: tc.mode}}
		if err := run(t, st, time.Now(), r); err != nil {
			t.Fatal(err)
		}
		if r.Error == nil || !strings.Contains(r.Error.Detail, tc.want) {
			t.Errorf("mode %q: error %+v", tc.mode, r.Error)
		}
	}

	// owner and group (as root: chown to nobody)
	if os.Geteuid() != 0 {
		return
	}
	r := testRecord("o.test", md.KeySpecs{ecSpec})
	r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(base, "certs", "o.test"), Owner: "nobody", Group: "nogroup", KeyMode: "0640"}}
	if err := run(t, st, time.Now(), r); err != nil {
		t.Fatal(err)
	}
	if r.Error != nil || r.Install.Action != "activated" {
		t.Fatalf("%+v %+v", r.Install, r.Error)
	}
	for _, f := range []string{"privkey.p-256.pem", "fullchain.p-256.pem"} {
		fi, err := os.Stat(filepath.Join(base, "certs", "o.test", f))
		if err != nil {
			t.Fatal(err)
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s owned by %d:%d; want nobody:nogroup", f, sys.Uid, sys.Gid)
		}
		if strings.HasPrefix(f, "privkey") && fi.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
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

// A reader that resolves the deploy path once never sees a certificate
// beside a key of another set while sets are switched under it.
func TestDeployReaderNeverSeesAMix(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	deploy := filepath.Join(t.TempDir(), "r.test")
	rec := testRecord("r.test", md.KeySpecs{ecSpec})
	sets := [][]stagedCred{freshCreds(t, rec), freshCreds(t, rec)}
	stop := make(chan struct{})
	done := make(chan struct{})
	reads, mixes := 0, 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			dir, err := filepath.EvalSymlinks(deploy)
			if err != nil {
				continue
			}
			certPEM, err1 := os.ReadFile(filepath.Join(dir, ecSpec.FileName("cert")))
			keyPEM, err2 := os.ReadFile(filepath.Join(dir, ecSpec.FileName("privkey")))
			if err1 != nil || err2 != nil {
				continue // the old set was removed after the flip: read again
			}
			chain, err1 := store.ParseChainPEM(certPEM)
			key, err2 := store.ParseKeyPEM(keyPEM, nil)
			if err1 != nil || err2 != nil {
				mixes++ // a torn file
				continue
			}
			reads++
			if !publicKeysEqual(key.Public(), chain[0].PublicKey) {
				mixes++
			}
		}
	}()
	for i := 0; i < 8; i++ {
		r := testRecord("r.test", md.KeySpecs{ecSpec})
		r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: deploy}}
		stageSet(t, st, r, sets[i%2])
		if err := run(t, st, time.Now(), r); err != nil || r.Install.Action != "activated" {
			t.Fatalf("round %d: %v %+v %+v", i, err, r.Install, r.Error)
		}
	}
	close(stop)
	<-done
	if mixes != 0 || reads == 0 {
		t.Errorf("%d consistent reads, %d mixed or torn", reads, mixes)
	}
}
