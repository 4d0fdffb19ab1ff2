package main

import (
	"crypto"
	"testing"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
)

// TestReuseKey against a real Pebble: with reuse-key a forced renewal is
// ordered for the live key (both key specs); without it, and after a
// keyCompromise revocation, a new key is made.
func TestReuseKey(t *testing.T) {
	ca := devca.StartT(t, devca.Options{KeyAlgorithm: "rsa"})
	dir := t.TempDir()
	const name = "reuse.test"
	rec := record([]string{ca.DirectoryURL}, name)
	rec.ARIRenewals = false
	if err := rec.PrivKey.UnmarshalJSON([]byte(`[{"type":"RSA","bits":2048},{"type":"EC","curve":"secp256r1"}]`)); err != nil {
		t.Fatal(err)
	}
	st := mustStore(t, dir)
	keys := func() map[string]crypto.PublicKey {
		out := map[string]crypto.PublicKey{}
		for _, f := range []string{"privkey.pem", "privkey.secp256r1.pem"} {
			k, err := st.LoadKey(t.Context(), store.GroupDomains, name, f)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = k.Public()
		}
		return out
	}
	order := func(step string) {
		t.Helper()
		res := runOrder(t, jsonl(t, rec), append(caArgs(ca, dir), "--force")...)
		if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
			t.Fatalf("%s: exit %d %+v %+v\n%s", step, res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
		}
		install(t, dir, name)
	}
	order("first")
	for i, tc := range []struct {
		reuse, revoke, same bool
	}{
		{reuse: true, same: true},
		{reuse: true, same: true},
		{reuse: false, same: false},
		{reuse: true, revoke: true, same: false},
	} {
		before := keys()
		rec.ReuseKey = tc.reuse
		if tc.revoke {
			if code, _, stderr := runRevoke(t, "--store", dir, "--ca-file", ca.RootsFile, "--reason", "keyCompromise", name); code != 0 {
				t.Fatalf("revoke: %s", stderr)
			}
		}
		order("renewal")
		after := keys()
		for f, pub := range after {
			same := pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(before[f])
			if same != tc.same {
				t.Errorf("%d (reuse %v, revoked %v): %s kept %v; want %v", i, tc.reuse, tc.revoke, f, same, tc.same)
			}
		}
	}
}
