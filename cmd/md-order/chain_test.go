package main

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestPreferredChain against a real Pebble offering three chains (its
// default and 2 alternates, each to its own root, with random names read
// from Pebble's management API): preferred-chain picks the chain whose
// topmost issuer has that name; without a preference, or with a name no
// chain's topmost issuer has (a random one, or the intermediate's, which
// every chain has but never at the top), the default chain is staged, the
// latter with a note on stderr, in the job log and in the record.
func TestPreferredChain(t *testing.T) {
	ca := devca.StartT(t, devca.Options{AlternateRoots: 2})
	roots, err := ca.Roots()
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 3 {
		t.Fatalf("pebble has %d roots; want 3", len(roots))
	}
	inter, err := ca.IntermediatePEM()
	if err != nil {
		t.Fatal(err)
	}
	interName := mustParsePEM(t, inter).Subject.CommonName
	for _, tc := range []struct {
		name      string
		preferred string
		specs     string // private key specs, JSON; "" = the default
		wantRoot  int    // the root the staged chains must lead to
		wantNote  bool
	}{
		{name: "none", wantRoot: 0},
		{name: "default-root", preferred: roots[0].Subject.CommonName, wantRoot: 0},
		{name: "alternate-1", preferred: roots[1].Subject.CommonName, wantRoot: 1},
		{name: "alternate-2", preferred: roots[2].Subject.CommonName, wantRoot: 2,
			specs: `[{"type":"EC","curve":"secp256r1"},{"type":"RSA","bits":2048}]`},
		{name: "no-match", preferred: "No Such Root CA", wantRoot: 0, wantNote: true},
		{name: "intermediate-name", preferred: interName, wantRoot: 0, wantNote: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := tc.name + ".chain.test"
			rec := record([]string{ca.DirectoryURL}, name)
			rec.PreferredChain = tc.preferred
			if tc.specs != "" {
				if err := rec.PrivKey.UnmarshalJSON([]byte(tc.specs)); err != nil {
					t.Fatal(err)
				}
			}
			res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
			if res.code != 0 || res.recs[0].Error != nil {
				t.Fatalf("exit %d, error %+v\n%s", res.code, res.recs[0].Error, res.stderr)
			}
			st := mustStore(t, dir)
			want := roots[tc.wantRoot]
			for _, s := range rec.PrivKey.Effective() {
				chain, err := st.LoadChain(t.Context(), store.GroupStaging, name, s.FileName("pubcert"))
				if err != nil {
					t.Fatal(err)
				}
				checkLeadsTo(t, s.FileName("pubcert"), chain, want, name)
			}
			warnings := strings.Join(res.recs[0].Order.Warnings, "\n")
			job, err := st.LoadJob(t.Context(), store.GroupStaging, name)
			if err != nil {
				t.Fatal(err)
			}
			noted := map[string]bool{
				"stderr":         strings.Contains(res.stderr, "preferred topmost issuer"),
				"order.warnings": strings.Contains(warnings, "preferred topmost issuer"),
				"job log":        jobMentions(job, "preferred topmost issuer"),
			}
			for where, got := range noted {
				if got != tc.wantNote {
					t.Errorf("note on %s: %v; want %v\nstderr:\n%s", where, got, tc.wantNote, res.stderr)
				}
			}
			if tc.wantNote && !strings.Contains(warnings, fmt.Sprintf("%q", roots[2].Subject.CommonName)) {
				t.Errorf("the note does not list the offered roots: %s", warnings)
			}
		})
	}
}

// checkLeadsTo checks that chain's topmost certificate was issued by root
// and that the chain verifies for name with root as the only trust anchor.
func checkLeadsTo(t *testing.T, file string, chain []*x509.Certificate, root *x509.Certificate, name string) {
	t.Helper()
	top := chain[len(chain)-1]
	if top.Issuer.CommonName != root.Subject.CommonName {
		t.Errorf("%s: topmost issuer %q; want %q", file, top.Issuer.CommonName, root.Subject.CommonName)
	}
	if err := top.CheckSignatureFrom(root); err != nil {
		t.Errorf("%s: topmost certificate not signed by %q: %v", file, root.Subject.CommonName, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: pool, Intermediates: inter}); err != nil {
		t.Errorf("%s does not verify to %q: %v", file, root.Subject.CommonName, err)
	}
}

func jobMentions(job *md.Job, s string) bool {
	for _, e := range job.Log.Entries {
		if strings.Contains(e.Detail, s) {
			return true
		}
	}
	return false
}

func jobDetails(job *md.Job) string {
	var b strings.Builder
	for _, e := range job.Log.Entries {
		b.WriteString(e.Detail + "\n")
	}
	return b.String()
}

func mustParsePEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	chain, err := store.ParseChainPEM(data)
	if err != nil || len(chain) == 0 {
		t.Fatalf("parsing PEM: %v", err)
	}
	return chain[0]
}
