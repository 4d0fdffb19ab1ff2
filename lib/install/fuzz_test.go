package install

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// FuzzStagedSet feeds arbitrary md.json, certificate and key data to the
// staged-set checks (the PEM parsing is lib/store's, fuzzed there): never a
// panic, and nothing but a complete, matching set passes. Seeded from testdata/install (mod_md's staged
// md.json) and a locally issued set.
func FuzzStagedSet(f *testing.F) {
	mdJSON, err := os.ReadFile(filepath.Join("..", "..", "testdata", "install", "staged-md.json"))
	if err != nil {
		f.Fatal(err)
	}
	// a valid set for a1.test (the sample's name), from a throwaway CA
	now := time.Now()
	ca := certtest.New(f, certtest.Spec{CA: true})
	leaf := certtest.New(f, certtest.Spec{Names: []string{"a1.test"}, Issuer: ca})
	chain := certtest.ChainPEM(leaf, ca)
	keyPEM := leaf.KeyPEM(f)
	// Seeds: mod_md's staged md.json with damaged material. A complete valid
	// set is left out: under the fuzzer's instrumentation every mutation of it
	// costs whole ECDSA verifications and the fuzzer crawls; the valid path
	// is covered by the unit tests.
	f.Add(mdJSON, chain[:len(chain)/2], keyPEM)
	f.Add(mdJSON, chain, []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("{}"), []byte("garbage"), []byte(""))

	spec := md.KeySpec{Type: md.KeyRSA, Bits: 2048} // the sample's spec
	f.Fuzz(func(t *testing.T, mdData, certData, keyData []byte) {
		var m md.MD
		if err := json.Unmarshal(mdData, &m); err != nil {
			return
		}
		chain, err := store.ParseChainPEM(certData)
		if err != nil {
			return
		}
		key, err := store.ParseKeyPEM(keyData, nil)
		if err != nil {
			return
		}
		creds := []credential{{spec: spec, key: key, chain: chain}}
		if err := check(creds, []string{"a1.test"}, now); err != nil {
			if !isInvalid(err) {
				t.Fatalf("a content problem not reported as invalid: %v", err)
			}
			return
		}
		// it passed: it must really be a matching, covering, chained set
		c := creds[0]
		if !publicKeysEqual(c.key.Public(), c.chain[0].PublicKey) || !renew.Covers(c.chain[0], []string{"a1.test"}) || len(c.chain) < 2 {
			t.Fatalf("an invalid set passed the check")
		}
		_ = renew.ActivateAt(stagedTimes(&staged{creds: creds}, creds, time.Hour))
	})
}

// FuzzParseLeafLite: never a panic; whatever both parsers accept, they
// read the same serial and validity.
func FuzzParseLeafLite(f *testing.F) {
	now := time.Now()
	f.Add(certtest.New(f, certtest.Spec{Names: []string{"a.test"}, Serial: big.NewInt(4711), NotBefore: now, NotAfter: now.Add(time.Hour)}).Cert.Raw)
	pemData, err := os.ReadFile(filepath.Join("..", "..", "testdata", "install", "pubcert-a1.test.pem"))
	if err == nil {
		if b, _ := pem.Decode(pemData); b != nil {
			f.Add(b.Bytes)
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		lite, err := parseLeafLite(der)
		if err != nil {
			return
		}
		full, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		if lite.SerialNumber.Cmp(full.SerialNumber) != 0 || !lite.NotBefore.Equal(full.NotBefore) || !lite.NotAfter.Equal(full.NotAfter) {
			t.Fatalf("lite and full parsers disagree")
		}
	})
}
