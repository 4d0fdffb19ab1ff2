package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// deadURL is a CA URL where nothing listens: a port reserved for this
// process (devca.FreePorts) that nothing binds.
func deadURL(t *testing.T) string {
	ports, err := devca.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return "https://127.0.0.1:" + strconv.Itoa(ports[0]) + "/dir"
}

func mustStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// install moves a staged set live, as md-install does.
func install(t *testing.T, dir, name string) {
	t.Helper()
	st := mustStore(t, dir)
	var f acmeflow.AccountFile
	if err := st.LoadJSON(t.Context(), store.GroupStaging, name, store.FileAccount, &f); err == nil {
		key, err := st.LoadKey(t.Context(), store.GroupStaging, name, store.FileAccountKey)
		if err != nil {
			t.Fatal(err)
		}
		id := md.AccountIDPrefix(f.CAURL) + "0000"
		for n := 1; st.Exists(t.Context(), store.GroupAccounts, id, store.FileAccount); n++ {
			id = fmt.Sprintf("%s%04d", md.AccountIDPrefix(f.CAURL), n) // as md-install numbers them
		}
		if err := st.SaveJSON(t.Context(), store.GroupAccounts, id, store.FileAccount, &f); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveKey(t.Context(), store.GroupAccounts, id, store.FileAccountKey, key); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{store.FileOrder, store.FileAccount, store.FileAccountKey} {
		_ = st.Remove(t.Context(), store.GroupStaging, name, f)
	}
	if _, err := st.Promote(t.Context(), store.GroupStaging, name); err != nil {
		t.Fatal(err)
	}
}

// One Pebble serves the tests that need no special CA options.
func TestWithPebble(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	// The dns-01 hook finds challtestsrv through the environment.
	old, had := os.LookupEnv("MD_CHALLTESTSRV")
	os.Setenv("MD_CHALLTESTSRV", strings.TrimPrefix(ca.ChallSrvURL, "http://"))
	t.Cleanup(func() {
		if had {
			os.Setenv("MD_CHALLTESTSRV", old)
		} else {
			os.Unsetenv("MD_CHALLTESTSRV")
		}
	})

	t.Run("wildcard via dns-01", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		tmp := t.TempDir()
		hookLog := filepath.Join(tmp, "hook.log")
		real, _ := filepath.Abs("../../testdata/challenge/dns01-hook")
		hook := filepath.Join(tmp, "hook")
		os.WriteFile(hook, []byte("#!/bin/sh\nMD_DNS01_HOOK_LOG="+hookLog+" exec "+real+" \"$@\"\n"), 0o755)
		rec := record([]string{ca.DirectoryURL}, "w.test", "*.w.test", "www.w.test")
		rec.CmdDNS01 = hook
		rec.CA.Challenges = []string{"dns-01"}
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
			t.Fatalf("exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
		}
		checkStaged(t, ca, dir, rec)
		chain, _ := mustStore(t, dir).LoadChain(t.Context(), store.GroupStaging, "w.test", "pubcert.pem")
		if got := strings.Join(chain[0].DNSNames, " "); got != "w.test *.w.test" {
			t.Errorf("SANs %q; want the minimal set \"w.test *.w.test\"", got)
		}
		calls, _ := os.ReadFile(hookLog)
		if n := strings.Count(string(calls), "setup w.test "); n != 2 {
			t.Errorf("hook calls:\n%s", calls)
		}
		if !strings.Contains(string(calls), "teardown w.test") {
			t.Errorf("no teardown:\n%s", calls)
		}
	})

	t.Run("tls-alpn-01 with RSA and P-384", func(t *testing.T) {
		dir := t.TempDir()
		rec := record([]string{ca.DirectoryURL}, "alpn.test", "www.alpn.test")
		rec.CA.Challenges = []string{"tls-alpn-01"}
		rec.Proto.ACMETLS1 = []string{"alpn.test", "www.alpn.test"}
		rec.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "secp384r1"}, {Type: md.KeyRSA, Bits: 3072}}
		res := runOrder(t, jsonl(t, rec), "--store", dir, "--ca-file", ca.RootsFile, "--tls-listen", "127.0.0.1:"+strconv.Itoa(ca.TLSPort))
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
			t.Fatalf("exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
		}
		checkStaged(t, ca, dir, rec)
	})

	t.Run("profile shortlived", func(t *testing.T) {
		dir := t.TempDir()
		rec := record([]string{ca.DirectoryURL}, "p.test")
		rec.Profile = "ShortLived" // matched case-insensitively
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.code != 0 {
			t.Fatalf("exit %d %+v\n%s", res.code, res.recs[0].Error, res.stderr)
		}
		c := res.recs[0].Order.Certs[0]
		if life := c.Valid.Until.Sub(c.Valid.From.Time); life > 7*24*time.Hour {
			t.Errorf("lifetime %v; want the shortlived profile's 6 days", life)
		}
		bad := record([]string{ca.DirectoryURL}, "p2.test")
		bad.Profile, bad.ProfileMandatory = "nonexistent", true
		res = runOrder(t, jsonl(t, bad), caArgs(ca, t.TempDir())...)
		if res.code != 1 || res.recs[0].Error == nil || !strings.Contains(res.recs[0].Error.Detail, "MDProfileMandatory") {
			t.Errorf("mandatory unknown profile: exit %d error %+v", res.code, res.recs[0].Error)
		}
	})

	t.Run("ARI renewal with replaces", func(t *testing.T) {
		dir := t.TempDir()
		rec := record([]string{ca.DirectoryURL}, "ari.test")
		if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.code != 0 {
			t.Fatalf("first order: exit %d\n%s", res.code, res.stderr)
		}
		install(t, dir, "ari.test")
		// Fresh certificate, CA says nothing yet: not due.
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionNone {
			t.Fatalf("fresh cert: %+v\n%s", res.recs[0].Order, res.stderr)
		}
		chain, err := mustStore(t, dir).LoadChain(t.Context(), store.GroupDomains, "ari.test", "pubcert.pem")
		if err != nil {
			t.Fatal(err)
		}
		id, err := acmeflow.CertID(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.SetRenewalInfo(chain[0], time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(filepath.Join(dir, "ari-ari.test.json")) // the cached answer is still fresh
		res = runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		o := res.recs[0].Order
		if res.code != 0 || o.Action != acmeflow.ActionOrdered || !strings.Contains(o.Reason, "triggered by CA via ARI") || !strings.Contains(o.Reason, "new certificates staged") {
			t.Fatalf("ARI run: exit %d order %+v error %+v\n%s", res.code, o, res.recs[0].Error, res.stderr)
		}
		job, _ := mustStore(t, dir).LoadJob(t.Context(), store.GroupStaging, "ari.test")
		var sawARI, sawReplaces bool
		for _, e := range job.Log.Entries {
			sawARI = sawARI || strings.Contains(e.Detail, "triggered by CA via ARI")
			sawReplaces = sawReplaces || strings.Contains(e.Detail, "replacing-cert="+id)
		}
		if !sawARI || !sawReplaces {
			t.Errorf("job log lacks the ARI trigger or replaces=%s: %+v", id, job.Log.Entries)
		}
	})

	t.Run("failover from a dead CA", func(t *testing.T) {
		dir := t.TempDir()
		rec := record([]string{deadURL(t), ca.DirectoryURL}, "fo.test")
		rec.Settings.RetryFailover = 1
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.code != 1 || res.recs[0].Error == nil || !strings.Contains(res.recs[0].Error.Detail, "contacting ACME server") {
			t.Fatalf("first attempt: exit %d error %+v", res.code, res.recs[0].Error)
		}
		res = runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), "--force")...)
		if res.code != 0 || res.recs[0].Order.CA != ca.DirectoryURL {
			t.Fatalf("second attempt: exit %d order %+v error %+v", res.code, res.recs[0].Order, res.recs[0].Error)
		}
		checkStaged(t, ca, dir, rec)
	})

	t.Run("terms of service required", func(t *testing.T) {
		rec := record([]string{ca.DirectoryURL}, "tos.test")
		rec.CA.Agreement = ""
		res := runOrder(t, jsonl(t, rec), caArgs(ca, t.TempDir())...)
		if res.code != 1 || res.recs[0].Error == nil || !strings.Contains(res.recs[0].Error.Detail, "MDCertificateAgreement") {
			t.Errorf("exit %d error %+v", res.code, res.recs[0].Error)
		}
		rec = record([]string{ca.DirectoryURL}, "nocontact.test")
		rec.Contacts = nil
		res = runOrder(t, jsonl(t, rec), caArgs(ca, t.TempDir())...)
		if res.code != 1 || res.recs[0].Error == nil || !strings.Contains(res.recs[0].Error.Detail, "MDContactEmail") {
			t.Errorf("exit %d error %+v", res.code, res.recs[0].Error)
		}
	})

	t.Run("account reused from accounts", func(t *testing.T) {
		dir := t.TempDir()
		if res := runOrder(t, jsonl(t, record([]string{ca.DirectoryURL}, "acc1.test")), caArgs(ca, dir)...); res.code != 0 {
			t.Fatal(res.stderr)
		}
		// md-install moves the staged account to accounts/ACME-127.0.0.1-0000.
		st := mustStore(t, dir)
		var f acmeflow.AccountFile
		if err := st.LoadJSON(t.Context(), store.GroupStaging, "acc1.test", store.FileAccount, &f); err != nil {
			t.Fatal(err)
		}
		key, _ := st.LoadKey(t.Context(), store.GroupStaging, "acc1.test", store.FileAccountKey)
		id := md.AccountIDPrefix(ca.DirectoryURL) + "0000"
		if id != "ACME-127.0.0.1-0000" {
			t.Errorf("account id %q", id)
		}
		if err := st.SaveJSON(t.Context(), store.GroupAccounts, id, store.FileAccount, &f); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveKey(t.Context(), store.GroupAccounts, id, store.FileAccountKey, key); err != nil {
			t.Fatal(err)
		}
		install(t, dir, "acc1.test")
		res := runOrder(t, jsonl(t, record([]string{ca.DirectoryURL}, "acc2.test")), caArgs(ca, dir)...)
		if res.code != 0 {
			t.Fatal(res.stderr)
		}
		sm, _ := st.LoadMD(t.Context(), store.GroupStaging, "acc2.test")
		if sm.CA.Account != id || st.Exists(t.Context(), store.GroupStaging, "acc2.test", store.FileAccount) {
			t.Errorf("staged ca.account %q, staged account file %v; want %s reused", sm.CA.Account, st.Exists(t.Context(), store.GroupStaging, "acc2.test", store.FileAccount), id)
		}
	})

	t.Run("account the CA rejects is replaced", func(t *testing.T) {
		dir := t.TempDir()
		st := mustStore(t, dir)
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		id := md.AccountIDPrefix(ca.DirectoryURL) + "0000"
		bogus := acmeflow.AccountFile{Status: "valid", URL: strings.TrimSuffix(ca.DirectoryURL, "/dir") + "/my-account/deadbeef", CAURL: ca.DirectoryURL}
		if err := st.SaveJSON(t.Context(), store.GroupAccounts, id, store.FileAccount, &bogus); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveKey(t.Context(), store.GroupAccounts, id, store.FileAccountKey, key); err != nil {
			t.Fatal(err)
		}
		res := runOrder(t, jsonl(t, record([]string{ca.DirectoryURL}, "rej.test")), caArgs(ca, dir)...)
		if res.code != 0 || !strings.Contains(res.stderr, "was rejected by the CA") {
			t.Fatalf("exit %d error %+v\n%s", res.code, res.recs[0].Error, res.stderr)
		}
		var f acmeflow.AccountFile
		if err := st.LoadJSON(t.Context(), store.GroupStaging, "rej.test", store.FileAccount, &f); err != nil || f.URL == bogus.URL {
			t.Errorf("staged account %+v %v; want a new one", f, err)
		}
	})

	t.Run("activation delay postpones renewed", func(t *testing.T) {
		dir := t.TempDir()
		logf := filepath.Join(t.TempDir(), "events.log")
		script := filepath.Join(t.TempDir(), "msg.sh")
		os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+logf+"\n"), 0o755)
		rec := record([]string{ca.DirectoryURL}, "delay.test")
		if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.code != 0 {
			t.Fatal(res.stderr)
		}
		install(t, dir, "delay.test")
		rec.Settings.ActivationDelay = "1d"
		rec.Settings.MessageCmd = []string{script}
		res := runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), "--force")...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
			t.Fatalf("exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
		}
		job, _ := mustStore(t, dir).LoadJob(t.Context(), store.GroupStaging, "delay.test")
		if !job.Finished || job.NotifiedRenewed || job.ValidFrom.Before(time.Now().Add(23*time.Hour)) || !job.NextRun.Equal(job.ValidFrom.Time) {
			t.Errorf("job finished %v notified-renewed %v valid-from %v next-run %v", job.Finished, job.NotifiedRenewed, job.ValidFrom, job.NextRun)
		}
		res = runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.recs[0].Order.Action != acmeflow.ActionStaged {
			t.Errorf("second run: %+v", res.recs[0].Order)
		}
		if got, _ := os.ReadFile(logf); strings.Contains(string(got), "renewed") {
			t.Errorf("renewed raised before the activation delay:\n%s", got)
		}
	})

	t.Run("kill -9 mid-order then resume", func(t *testing.T) {
		t.Parallel()
		testKillResume(t, ca, syscall.SIGKILL)
	})

	t.Run("two runs at once order each MD once", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		hook, _ := filepath.Abs("../../testdata/challenge/dns01-hook")
		var recs []*md.Record
		for _, n := range []string{"c1.two.test", "c2.two.test", "c3.two.test"} {
			r := record([]string{ca.DirectoryURL}, n)
			r.CmdDNS01, r.CA.Challenges = hook, []string{"dns-01"}
			recs = append(recs, r)
		}
		in := jsonl(t, recs...)
		outs := make([]strings.Builder, 2)
		cmds := make([]*exec.Cmd, 2)
		for i := range cmds {
			cmds[i] = exec.Command(os.Args[0], "--store", dir, "--ca-file", ca.RootsFile, "--wait", "60s", "-j", "3")
			cmds[i].Env = append(os.Environ(), "MDORDER_TEST_AS_MAIN=1")
			cmds[i].Stdin, cmds[i].Stdout = strings.NewReader(in), &outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("run %d: %v\n%s", i, err, outs[i].String())
			}
		}
		all := outs[0].String() + outs[1].String()
		if n := strings.Count(all, `"action":"ordered"`); n != 3 {
			t.Errorf("%d orders; want 3:\n%s", n, all)
		}
		if n := strings.Count(all, `"action":"staged"`); n != 3 {
			t.Errorf("%d staged; want 3:\n%s", n, all)
		}
		for _, r := range recs {
			checkStaged(t, ca, dir, r)
		}
	})

	t.Run("SIGTERM mid-order then resume", func(t *testing.T) {
		t.Parallel()
		testKillResume(t, ca, syscall.SIGTERM)
	})

	t.Run("events in order exactly once", func(t *testing.T) {
		dir := t.TempDir()
		logf := filepath.Join(t.TempDir(), "events.log")
		script := filepath.Join(t.TempDir(), "msg.sh")
		os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+logf+"\n"), 0o755)
		rec := record([]string{ca.DirectoryURL}, "ev.test", "www.ev.test")
		rec.Settings.MessageCmd = []string{script, "LOG"}
		rec.Settings.NotifyCmd = []string{script, "NOTIFY"}
		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		runOrder(t, jsonl(t, rec), caArgs(ca, dir)...) // staged: no new events
		got, _ := os.ReadFile(logf)
		want := "LOG renewing ev.test\nLOG challenge-setup:http-01:ev.test ev.test\nLOG challenge-setup:http-01:www.ev.test ev.test\nNOTIFY ev.test\nLOG renewed ev.test\n"
		if string(got) != want {
			t.Errorf("events:\n%s\nwant:\n%s", got, want)
		}
		// A vetoing renewing command stops the run without an error.
		veto := filepath.Join(t.TempDir(), "veto.sh")
		os.WriteFile(veto, []byte("#!/bin/sh\n[ \"$1\" = renewing ] && exit 1\nexit 0\n"), 0o755)
		rec2 := record([]string{ca.DirectoryURL}, "veto.test")
		rec2.Settings.MessageCmd = []string{veto}
		res = runOrder(t, jsonl(t, rec2), caArgs(ca, t.TempDir())...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionVetoed {
			t.Errorf("veto: exit %d order %+v", res.code, res.recs[0].Order)
		}
	})
}

func TestNothingDueNoNetwork(t *testing.T) {
	dir := t.TempDir()
	st := mustStore(t, dir)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_ = k
	liveSet(t, dir, "due.test") // expires in a day: due
	fresh := liveFresh(t, st, "fresh.test")
	_ = fresh
	dead := deadURL(t)
	recs := []*md.Record{record([]string{dead}, "fresh.test"), record([]string{dead}, "manual.test"), record([]string{dead}, "due.test")}
	recs[0].ARIRenewals = false
	recs[1].RenewMode = md.RenewManual
	// Nothing due for the first two: no network. The manual MD has no
	// certificate at all, which is not fine: exit 1 with its error.
	res := runOrder(t, jsonl(t, recs[0], recs[1]), "--store", dir)
	if res.code != 1 || res.recs[0].Order.Action != "none" || res.recs[1].Order.Action != "none" || res.recs[0].Error != nil ||
		res.recs[1].Error == nil || !strings.Contains(res.recs[1].Error.Detail, "no rsa certificate") {
		t.Fatalf("exit %d: %+v %+v %+v\n%s", res.code, res.recs[0].Order, res.recs[1].Order, res.recs[1].Error, res.stderr)
	}
	if !strings.Contains(res.recs[1].Order.Reason, "manual") || res.recs[0].Order.RenewAt.IsZero() {
		t.Errorf("reasons: %+v %+v", res.recs[0].Order, res.recs[1].Order)
	}
	// With ARI on, a fresh certificate makes one attempt to ask the (dead)
	// CA; the failure is remembered for an hour: the next run is silent.
	ari := record([]string{dead}, "fresh.test")
	res = runOrder(t, jsonl(t, ari), "--store", dir)
	if res.code != 0 || res.recs[0].Order.Action != "none" || !strings.Contains(res.stderr, "ARI") {
		t.Errorf("ARI with a dead CA: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	res = runOrder(t, jsonl(t, ari), "--store", dir)
	if res.code != 0 || res.recs[0].Order.Action != "none" || res.stderr != "" {
		t.Errorf("second ARI run: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	// --dry-run says what it would do, without network or store changes.
	res = runOrder(t, jsonl(t, recs[2]), "--store", dir, "--dry-run")
	if res.code != 0 || res.recs[0].Order.Action != "dry-run" || !strings.Contains(res.recs[0].Order.Reason, "renew window reached") || res.recs[0].Order.CA != dead {
		t.Errorf("dry-run: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	if names, _ := st.List(t.Context(), store.GroupStaging); len(names) != 0 {
		t.Errorf("dry-run staged %v", names)
	}
	// Not even a missing store is created.
	missing := filepath.Join(t.TempDir(), "no-store")
	res = runOrder(t, jsonl(t, recs[2]), "--store", missing, "--dry-run")
	if _, err := os.Stat(missing); res.code != 0 || res.recs[0].Order.Action != "dry-run" || err == nil {
		t.Errorf("dry-run on a missing store: exit %d %+v, store created: %v\n%s", res.code, res.recs[0].Order, err == nil, res.stderr)
	}
}

// liveFresh installs a fresh 90-day certificate for name.
func liveFresh(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	c := selfSigned(t, name, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	if err := st.SaveChain(t.Context(), store.GroupDomains, name, "pubcert.pem", c); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestLockedMDIsSkipped(t *testing.T) {
	dir := t.TempDir()
	st := mustStore(t, dir)
	unlock, err := st.Lock(context.Background(), "lk.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	res := runOrder(t, jsonl(t, record([]string{deadURL(t)}, "lk.test")), "--store", dir, "--wait", "100ms")
	if res.code != 3 || res.recs[0].Order.Action != acmeflow.ActionLocked || !strings.Contains(res.stderr, "another") {
		t.Errorf("exit %d order %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
}

func TestEAB(t *testing.T) {
	hmac := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	ca := devca.StartT(t, devca.Options{EABKeys: map[string]string{"kid-1": hmac}})
	dir := t.TempDir()
	st := mustStore(t, dir)
	rec := record([]string{ca.DirectoryURL}, "eab.test")
	rec.EAB = &md.EAB{KID: "kid-1", HMAC: md.RedactedSecret} // as the stream shows it
	// Without the real HMAC in the store: a clear error.
	res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
	if res.code != 1 || res.recs[0].Error == nil || res.recs[0].Error.Problem != "apache:eab-hmac-invalid" {
		t.Fatalf("no hmac: exit %d error %+v", res.code, res.recs[0].Error)
	}
	// md-parse synced the MD with its HMAC into domains/.
	synced := rec.MD
	synced.EAB = &md.EAB{KID: "kid-1", HMAC: hmac}
	if err := st.SaveMD(t.Context(), store.GroupDomains, &synced); err != nil {
		t.Fatal(err)
	}
	res = runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), "--force")...)
	if res.code != 0 {
		t.Fatalf("exit %d error %+v\n%s", res.code, res.recs[0].Error, res.stderr)
	}
	if strings.Contains(res.stderr, hmac) {
		t.Errorf("HMAC in stderr")
	}
	var f acmeflow.AccountFile
	if err := st.LoadJSON(t.Context(), store.GroupStaging, "eab.test", store.FileAccount, &f); err != nil || f.EAB == nil || f.EAB.KID != "kid-1" {
		t.Errorf("staged account %+v %v", f, err)
	}
	// No EAB: the CA requires it.
	res = runOrder(t, jsonl(t, record([]string{ca.DirectoryURL}, "noeab.test")), caArgs(ca, dir)...)
	if res.code != 1 || res.recs[0].Error == nil || res.recs[0].Error.Problem != "urn:ietf:params:acme:error:externalAccountRequired" {
		t.Errorf("no eab: exit %d error %+v", res.code, res.recs[0].Error)
	}
}

// connectProxy is a minimal HTTP CONNECT proxy on loopback that counts the
// tunnels it opened (for MDHttpProxy).
func connectProxy(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		n.Add(1)
		hj, _ := w.(http.Hijacker)
		w.WriteHeader(http.StatusOK)
		conn, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { io.Copy(up, buf); up.Close() }()
		go func() { io.Copy(conn, up); conn.Close() }()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

func TestProxyAndCACertsFromRecord(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	proxy, tunnels := connectProxy(t)
	dir := t.TempDir()
	rec := record([]string{ca.DirectoryURL}, "px.test")
	rec.ProxyURL = proxy       // MDHttpProxy
	rec.CACerts = ca.RootsFile // MDCACertificateFile instead of --ca-file
	res := runOrder(t, jsonl(t, rec), "--store", dir, "--http-listen", "127.0.0.1:"+strconv.Itoa(ca.HTTPPort))
	if res.code != 0 {
		t.Fatalf("exit %d error %+v\n%s", res.code, res.recs[0].Error, res.stderr)
	}
	if tunnels.Load() == 0 {
		t.Error("the CA was not reached through the proxy")
	}
	checkStaged(t, ca, dir, rec)
	// Global MDHttpProxy / MDCACertificateFile reach md-order through the
	// record's settings, where md-parse puts a value set outside any MD.
	before := tunnels.Load()
	glob := record([]string{ca.DirectoryURL}, "global.test")
	glob.Settings.HTTPProxy = proxy
	glob.Settings.CACerts = ca.RootsFile
	res = runOrder(t, jsonl(t, glob), "--store", t.TempDir(), "--http-listen", "127.0.0.1:"+strconv.Itoa(ca.HTTPPort))
	if res.code != 0 || tunnels.Load() == before {
		t.Fatalf("global settings: exit %d, tunnels %d -> %d, error %+v\n%s", res.code, before, tunnels.Load(), res.recs[0].Error, res.stderr)
	}
	// Without the CA's roots the TLS connection is refused.
	rec2 := record([]string{ca.DirectoryURL}, "noroots.test")
	res = runOrder(t, jsonl(t, rec2), "--store", t.TempDir())
	if res.code != 1 || res.recs[0].Error == nil || !strings.Contains(res.recs[0].Error.Detail, "certificate") {
		t.Errorf("untrusted CA: exit %d error %+v", res.code, res.recs[0].Error)
	}
}

func TestExpiringEventAndFailedRecords(t *testing.T) {
	dir := t.TempDir()
	liveSet(t, dir, "m.test") // one day left of 81
	logf := filepath.Join(t.TempDir(), "events.log")
	script := filepath.Join(t.TempDir(), "msg.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+logf+"\n"), 0o755)
	rec := record([]string{deadURL(t)}, "m.test")
	rec.RenewMode = md.RenewManual
	rec.Settings.MessageCmd = []string{script}
	for i := 0; i < 2; i++ { // the second run is rate limited
		if res := runOrder(t, jsonl(t, rec), "--store", dir); res.code != 0 || res.recs[0].Order.Action != "none" {
			t.Fatalf("exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
		}
	}
	if got, _ := os.ReadFile(logf); string(got) != "expiring m.test\n" {
		t.Errorf("events %q; want one expiring", got)
	}
	// A record that failed in an earlier stage is passed on untouched.
	bad := record([]string{deadURL(t)}, "bad.test")
	bad.Error = &md.StageError{Stage: "parse", Detail: "something upstream"}
	res := runOrder(t, jsonl(t, bad), "--store", dir)
	if res.code != 1 || res.recs[0].Error.Stage != "parse" || res.recs[0].Order.Action != "none" {
		t.Errorf("exit %d %+v %+v", res.code, res.recs[0].Order, res.recs[0].Error)
	}
}
