package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

// TestRevokedCertIsRenewed is issue 6's promise end to end: a real OCSP
// responder signing for Pebble's intermediate reports the installed cert
// revoked, md-staple records that, and md-order's next run renews the MD
// although its certificate is fresh.
func TestRevokedCertIsRenewed(t *testing.T) {
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	ca := devca.StartT(t, devca.Options{KeyAlgorithm: "rsa", OCSPResponderURL: resp.URL})
	interPEM, err := ca.IntermediatePEM()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.IntermediateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(interPEM)
	inter, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := store.ParseKeyPEM(keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.SetIssuer(inter, interKey); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	rec := record([]string{ca.DirectoryURL}, "revoked.test")
	rec.Stapling = true
	if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionOrdered {
		t.Fatalf("first order: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	install(t, dir, "revoked.test")
	st := mustStore(t, dir)
	chain, err := st.LoadChain(t.Context(), store.GroupDomains, "revoked.test", "pubcert.pem")
	if err != nil {
		t.Fatal(err)
	}
	if res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...); res.recs[0].Order.Action != acmeflow.ActionNone {
		t.Fatalf("fresh installed cert must not be renewed: %+v", res.recs[0].Order)
	}

	resp.Revoke(chain[0].SerialNumber, time.Now().Add(-time.Minute))
	runner := &staple.Runner{Store: st}
	if _, err := runner.RunRecords(context.Background(), []*md.Record{rec}, &staple.Options{}); err != nil {
		t.Fatal(err)
	}
	if revoked, err := staple.HasRevoked(t.Context(), st, "revoked.test"); err != nil || !revoked {
		t.Fatalf("md-staple did not record the revocation: %v %v", revoked, err)
	}
	res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
	o := res.recs[0].Order
	if res.code != 0 || o.Action != acmeflow.ActionOrdered || !strings.Contains(o.Reason, "revoked") {
		t.Fatalf("after revocation: exit %d order %+v error %+v\n%s", res.code, o, res.recs[0].Error, res.stderr)
	}
}
