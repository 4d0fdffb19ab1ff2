package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// record builds an MD record as md-parse emits it, for a CA.
func record(caURLs []string, names ...string) *md.Record {
	return &md.Record{
		MD: md.MD{Name: names[0], Domains: names, Contacts: []string{"mailto:admin@example.org"}, Transitive: 1,
			CA: &md.CA{Proto: "ACME", URLs: caURLs, Agreement: "accepted"}, RenewMode: md.RenewAuto, ARIRenewals: true},
		Settings: &md.Settings{Reachable: &md.Reachable{HTTP: true, HTTPS: false}, RetryDelay: "1s"},
	}
}

func jsonl(t testing.TB, recs ...*md.Record) string {
	t.Helper()
	var b bytes.Buffer
	for _, r := range recs {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

type runResult struct {
	code   int
	recs   []*md.Record
	stderr string
}

// cliMu serialises cli.Run: urfave/cli applies its global help and
// version flags on every run, which the race detector flags when parallel
// tests run commands at once.
var cliMu sync.Mutex

// runOrder runs md-order in-process like a shell would.
func runOrder(t testing.TB, stdin string, args ...string) runResult {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-order"}, args...),
		cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	recs, err := cli.ReadRecords(&out, "stdout", false)
	if err != nil {
		t.Fatalf("md-order output is not records: %v\n%s", err, out.String())
	}
	return runResult{code: code, recs: recs, stderr: errb.String()}
}

func caArgs(ca *devca.CA, storeDir string) []string {
	return []string{"--store", storeDir, "--ca-file", ca.RootsFile, "--http-listen", "127.0.0.1:" + strconv.Itoa(ca.HTTPPort)}
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// checkStaged verifies a staged set: files, modes, keys match, chains
// verify against the CA's issuing roots.
func checkStaged(t *testing.T, ca *devca.CA, dir string, rec *md.Record) {
	t.Helper()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := ca.IssuerRoots()
	if err != nil {
		t.Fatal(err)
	}
	sm, err := st.LoadMD(t.Context(), store.GroupStaging, rec.Name)
	if err != nil {
		t.Fatalf("staged md.json: %v", err)
	}
	if sm.CA == nil || sm.CA.URL != ca.DirectoryURL {
		t.Errorf("staged md.json ca = %+v; want url %s", sm.CA, ca.DirectoryURL)
	}
	job, err := st.LoadJob(t.Context(), store.GroupStaging, rec.Name)
	if err != nil || !job.Finished || job.Errors != 0 {
		t.Errorf("staged job: %+v, %v", job, err)
	}
	for _, s := range rec.PrivKey.Effective() {
		chain, err := st.LoadChain(t.Context(), store.GroupStaging, rec.Name, s.FileName("pubcert"))
		if err != nil {
			t.Fatalf("%s: %v", s.FileName("pubcert"), err)
		}
		key, err := st.LoadKey(t.Context(), store.GroupStaging, rec.Name, s.FileName("privkey"))
		if err != nil {
			t.Fatalf("%s: %v", s.FileName("privkey"), err)
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		for _, d := range rec.Domains {
			if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: strings.TrimPrefix(d, "*."), Roots: roots, Intermediates: inter}); err != nil {
				t.Errorf("%s for %s does not verify: %v", s.FileName("pubcert"), d, err)
			}
		}
		if err := acmeflow.Verify(chain, key, rec.Domains, rec.MustStaple, time.Now()); err != nil {
			t.Errorf("%s: %v", s.FileName("pubcert"), err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "staging", rec.Name, s.FileName("privkey")))
		if !bytes.Contains(raw, []byte("ENCRYPTED PRIVATE KEY")) {
			t.Errorf("%s is not encrypted", s.FileName("privkey"))
		}
		if m := fileMode(t, filepath.Join(dir, "staging", rec.Name, s.FileName("privkey"))); m != 0o600 {
			t.Errorf("%s mode %o; want 600", s.FileName("privkey"), m)
		}
		if m := fileMode(t, filepath.Join(dir, "staging", rec.Name, s.FileName("pubcert"))); m != 0o644 {
			t.Errorf("%s mode %o; want 644", s.FileName("pubcert"), m)
		}
	}
	if st.Exists(t.Context(), store.GroupStaging, rec.Name, store.FileOrder) {
		t.Errorf("order.json left behind")
	}
	if names, _ := st.List(t.Context(), store.GroupDomains); len(names) != 0 {
		t.Errorf("domains/ was touched: %v", names)
	}
}

func TestHTTP01IssuanceEndToEnd(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir := t.TempDir()
	a := record([]string{ca.DirectoryURL}, "a.test", "www.a.test")
	b := record([]string{ca.DirectoryURL}, "b.test")
	b.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "secp256r1"}, {Type: md.KeyRSA, Bits: 2048}}
	// A temp file a killed run left in staging is swept by the next order.
	tmp := filepath.Join(dir, "staging", "a.test", ".order.json.0123456789ab.tmp")
	if err := os.MkdirAll(filepath.Dir(tmp), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runOrder(t, jsonl(t, a, b), caArgs(ca, dir)...)
	if res.code != 0 || len(res.recs) != 2 {
		t.Fatalf("exit %d, %d records; stderr:\n%s", res.code, len(res.recs), res.stderr)
	}
	for _, r := range res.recs {
		if r.Order == nil || r.Order.Action != acmeflow.ActionOrdered || r.Error != nil {
			t.Errorf("%s: order %+v error %+v", r.Name, r.Order, r.Error)
			continue
		}
		if len(r.Order.Certs) != len(r.PrivKey.Effective()) || r.Order.CA != ca.DirectoryURL {
			t.Errorf("%s: order %+v", r.Name, r.Order)
		}
	}
	checkStaged(t, ca, dir, a)
	checkStaged(t, ca, dir, b)
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file left in staging/a.test: %v", err)
	}
	for _, f := range []string{"privkey.pem", "pubcert.pem", "privkey.secp256r1.pem", "pubcert.secp256r1.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "staging", "b.test", f)); err != nil {
			t.Errorf("dual cert: %v", err)
		}
	}
	// One account registered for both MDs, staged with each.
	var a1, a2 acmeflow.AccountFile
	st, _ := store.Open(t.Context(), dir)
	if err := st.LoadJSON(t.Context(), store.GroupStaging, "a.test", store.FileAccount, &a1); err != nil {
		t.Fatal(err)
	}
	if err := st.LoadJSON(t.Context(), store.GroupStaging, "b.test", store.FileAccount, &a2); err != nil {
		t.Fatal(err)
	}
	if a1.URL == "" || a1.URL != a2.URL || a1.CAURL != ca.DirectoryURL {
		t.Errorf("accounts: %+v vs %+v", a1, a2)
	}
	// Challenges are cleaned up.
	if ents, _ := os.ReadDir(filepath.Join(dir, "challenges")); len(ents) != 0 {
		t.Errorf("challenges left: %v", ents)
	}

	// Run again: already staged, nothing ordered, no network needed.
	res = runOrder(t, jsonl(t, a, b), "--store", dir)
	if res.code != 0 {
		t.Fatalf("second run exit %d: %s", res.code, res.stderr)
	}
	for _, r := range res.recs {
		if r.Order.Action != acmeflow.ActionStaged {
			t.Errorf("second run %s: %+v", r.Name, r.Order)
		}
	}
	// A name added to the MD: the staged set no longer fits, a new one is
	// ordered.
	a.Domains = append(a.Domains, "new.a.test")
	res = runOrder(t, jsonl(t, a), caArgs(ca, dir)...)
	if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
		t.Fatalf("changed domains: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	checkStaged(t, ca, dir, a)
}

// TestAccountKeyType: --account-key P-256 registers an ECDSA account
// (every request signed for a fraction of RSA's cost); later runs keep
// using it whatever their flag says, and a run without the flag still
// registers RSA accounts, the only kind mod_md reads.
func TestAccountKeyType(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	accountKey := func(t *testing.T, dir, name string) (crypto.Signer, acmeflow.AccountFile) {
		t.Helper()
		st, err := store.Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var f acmeflow.AccountFile
		if err := st.LoadJSON(t.Context(), store.GroupStaging, name, store.FileAccount, &f); err != nil {
			t.Fatal(err)
		}
		key, err := st.LoadKey(t.Context(), store.GroupStaging, name, store.FileAccountKey)
		if err != nil {
			t.Fatal(err)
		}
		return key, f
	}
	dir := t.TempDir()
	a := record([]string{ca.DirectoryURL}, "a.test")
	res := runOrder(t, jsonl(t, a), append(caArgs(ca, dir), "--account-key", "P-256")...)
	if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
		t.Fatalf("exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	checkStaged(t, ca, dir, a)
	key, first := accountKey(t, dir, "a.test")
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("account key %T, want a P-256 ECDSA key", key)
	}
	// A later run (renewal forced) without the flag: the same account.
	res = runOrder(t, jsonl(t, a), append(caArgs(ca, dir), "--force")...)
	if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
		t.Fatalf("second run: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	checkStaged(t, ca, dir, a)
	if key, again := accountKey(t, dir, "a.test"); again.URL != first.URL {
		t.Errorf("second run registered %s (%T); want %s reused", again.URL, key, first.URL)
	}
	// Activated, the account is listed with its key, and a rollover
	// keeps the curve.
	install(t, dir, "a.test")
	infos := listAccounts(t, dir)
	if len(infos) != 1 || infos[0].Key != "EC P-256" {
		t.Fatalf("accounts: %+v", infos)
	}
	if code, out, errOut := runAccounts(t, "rollover", "--store", dir, "--ca-file", ca.RootsFile, infos[0].ID); code != 0 || !strings.Contains(out, "EC P-256") {
		t.Fatalf("rollover: exit %d\n%s%s", code, out, errOut)
	}
	cur, _ := accountKeys(t, mustStore(t, dir), infos[0].ID)
	if got, err := caKnows(t, ca, cur); err != nil || got.URI != first.URL {
		t.Fatalf("after the rollover the CA knows %+v, %v", got, err)
	}
	if k, ok := cur.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("rolled-over key %T", cur)
	}
	// The default is RSA.
	other := t.TempDir()
	res = runOrder(t, jsonl(t, a), caArgs(ca, other)...)
	if res.code != 0 {
		t.Fatalf("default: exit %d\n%s", res.code, res.stderr)
	}
	if key, _ := accountKey(t, other, "a.test"); key == nil {
		t.Fatal("no account key")
	} else if _, ok := key.(*rsa.PrivateKey); !ok {
		t.Errorf("default account key %T, want RSA", key)
	}
	res = runOrder(t, jsonl(t, a), append(caArgs(ca, t.TempDir()), "--account-key", "X25519")...)
	if res.code != 2 || !strings.Contains(res.stderr, "--account-key") || !strings.Contains(res.stderr, "P-256") {
		t.Errorf("--account-key X25519: exit %d\n%s", res.code, res.stderr)
	}
}
