package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/status"
	"github.com/mdtools/mdtools/lib/store"
)

// runRevoke runs "md-order revoke ARGS" in-process.
func runRevoke(t *testing.T, args ...string) (int, []md.Revocation, string) {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-order", "revoke"}, args...),
		cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	var revs []md.Revocation
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r md.Revocation
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("revoke output is not JSON lines: %v", err)
		}
		revs = append(revs, r)
	}
	return code, revs, errb.String()
}

// liveLeaf is the installed certificate of an MD's default key spec.
func liveLeafPEM(t *testing.T, dir, name string) string {
	t.Helper()
	return filepath.Join(dir, "domains", name, "pubcert.pem")
}

// TestRevokeRenewsAtOnce: two revocations against a real Pebble, one
// signed by the MD's account (superseded) and one by the certificate's own
// key (keyCompromise, the default for that reason), each confirmed by
// Pebble's own record of the certificate; after each, md-order renews the
// MD at once although its certificate is fresh, raises the "revoked" event
// once, and md-status shows the revoked certificate and why.
func TestRevokeRenewsAtOnce(t *testing.T) {
	ca := devca.StartT(t, devca.Options{KeyAlgorithm: "rsa"})
	dir := t.TempDir()
	const name = "rev.test"
	logf := filepath.Join(t.TempDir(), "events.log")
	script := filepath.Join(t.TempDir(), "msg.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+logf+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rec := record([]string{ca.DirectoryURL}, name)
	rec.ARIRenewals = false
	rec.Settings.MessageCmd = []string{script}
	if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
		t.Fatalf("first order: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	install(t, dir, name)
	st := mustStore(t, dir)

	var serials []*big.Int
	for i, tc := range []struct {
		args   []string
		reason string
		code   uint
		by     string
		events int
	}{
		{[]string{"--reason", "superseded", name}, "superseded", 4, acmeflow.RevokeByAccount, 1},
		{[]string{"--reason", "keyCompromise", "--cert", liveLeafPEM(t, dir, name), name}, "keyCompromise", 1, acmeflow.RevokeByCertKey, 2},
	} {
		if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionNone {
			t.Fatalf("cycle %d: fresh certificate ordered again: %+v\n%s", i, res.recs[0].Order, res.stderr)
		}
		chain, err := st.LoadChain(t.Context(), store.GroupDomains, name, "pubcert.pem")
		if err != nil {
			t.Fatal(err)
		}
		serials = append(serials, chain[0].SerialNumber)
		code, revs, stderr := runRevoke(t, append([]string{"--store", dir, "--ca-file", ca.RootsFile}, tc.args...)...)
		if code != 0 || len(revs) != 1 || revs[0].By != tc.by || revs[0].Reason != tc.reason || revs[0].Serial != md.SerialHex(chain[0].SerialNumber) {
			t.Fatalf("cycle %d: revoke exit %d %+v\n%s", i, code, revs, stderr)
		}
		cs, err := ca.CertStatus(chain[0].SerialNumber)
		if err != nil || cs.Status != "Revoked" || cs.Reason == nil || *cs.Reason != tc.code {
			t.Fatalf("cycle %d: Pebble says %+v (%v); want Revoked with reason %d", i, cs, err, tc.code)
		}

		rep, err := (&status.Reader{Store: st}).Load(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(rep.JSON(false))
		if !strings.Contains(string(js), `"revoked":{"reason":"`+tc.reason+`"`) {
			t.Errorf("cycle %d: md-status JSON does not show the revocation: %s", i, js)
		}
		if row := rep.Row(); row.State != "revoked" || !strings.Contains(row.Activity, tc.reason) {
			t.Errorf("cycle %d: table row %+v", i, row)
		}
		if p := rep.Plan(md.Timeslice{}); p.Order.Action != "renew" || !strings.Contains(p.Order.Reason, "revoked") {
			t.Errorf("cycle %d: plan %+v", i, p.Order)
		}

		res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
		if o := res.recs[0].Order; res.code != 0 || o.Action != acmeflow.ActionOrdered || !strings.Contains(o.Reason, "revoked ("+tc.reason+")") {
			t.Fatalf("cycle %d: after revoke: exit %d %+v %+v\n%s", i, res.code, o, res.recs[0].Error, res.stderr)
		}
		got, _ := os.ReadFile(logf)
		// Pebble reuses a valid authorization ~1% of the time (see
		// devca.Options.Env): then no challenge is set up.
		const setup = "challenge-setup:http-01:rev.test rev.test\n"
		last := string(got)
		if trimmed, ok := strings.CutSuffix(last, setup+"renewed rev.test\n"); ok {
			last = trimmed + "renewed rev.test\n"
		}
		if n := strings.Count(string(got), "revoked rev.test\n"); n != tc.events || !strings.HasSuffix(last, "revoked rev.test\nrenewing rev.test\nrenewed rev.test\n") {
			t.Errorf("cycle %d: events %q; want %d \"revoked\" in all, the last one before this renewal", i, got, tc.events)
		}
		install(t, dir, name)
	}
	if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.recs[0].Order.Action != acmeflow.ActionNone {
		t.Fatalf("the renewed certificate is not revoked: %+v", res.recs[0].Order)
	}

	// Any certificate file, signed with its own key, without MD or
	// account: the first one again, which the CA revoked already.
	old, _ := filepath.Glob(filepath.Join(dir, "archive", name+".*", "pubcert.pem"))
	if len(old) != 2 {
		t.Fatalf("archived sets %v; want 2", old)
	}
	slices.Sort(old)
	key, err := st.LoadKey(t.Context(), store.GroupArchive, filepath.Base(filepath.Dir(old[0])), "privkey.pem")
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "leaked.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	code, revs, stderr := runRevoke(t, "--store", dir, "--ca-file", ca.RootsFile, "--cert", old[0], "--key", keyFile, "--ca", ca.DirectoryURL)
	if code != 0 || len(revs) != 1 || revs[0].By != acmeflow.RevokeByCertKey || revs[0].Reason != "unspecified" || revs[0].Name != "" || revs[0].Serial != md.SerialHex(serials[0]) {
		t.Fatalf("file revoke: exit %d %+v\n%s", code, revs, stderr)
	}
	// Pebble keeps the first revocation (superseded): the CA's
	// alreadyRevoked answer counts as done.
	if cs, err := ca.CertStatus(serials[0]); err != nil || cs.Status != "Revoked" || cs.Reason == nil || *cs.Reason != 4 {
		t.Errorf("Pebble says %+v (%v) about the first certificate", cs, err)
	}
}

// TestRevokeUsage: what revoke cannot do is said before anything is read
// or sent (exit 2).
func TestRevokeUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "revoke needs an MD name or --cert FILE"},
		{[]string{"--reason", "keyCompromize", "a.test"}, "did you mean keyCompromise?"},
		{[]string{"--reason", "7", "a.test"}, "revocation reason 7"},
		{[]string{"--by", "key", "a.test"}, `--by "key": want account or certificate-key`},
		{[]string{"--spec", "rsa", "--cert", "x.pem", "a.test"}, "makes no sense with --cert"},
		{[]string{"--key", "k.pem", "a.test"}, "--key is the key of --cert FILE"},
		{[]string{"--cert", "x.pem"}, "needs --account ID, or --key FILE and --ca URL"},
		{[]string{"a.test", "b.test"}, "one MD name"},
		{[]string{"a/../b"}, "MD name"},
	} {
		code, revs, stderr := runRevoke(t, append([]string{"--store", dir}, tc.args...)...)
		if code != cli.ExitUsage || len(revs) != 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %v, stderr %q; want 2 and %q", tc.args, code, revs, stderr, tc.want)
		}
	}
	// A store without the MD: exit 1, nothing printed.
	if code, revs, stderr := runRevoke(t, "--store", dir, "none.test"); code != cli.ExitFailed || len(revs) != 0 || !strings.Contains(stderr, "none.test") {
		t.Errorf("unknown MD: exit %d %v %q", code, revs, stderr)
	}
}
