package install

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// FuzzStagedSet feeds arbitrary md.json, certificate and key files to the
// staged-set loader and checker: never a panic, and nothing but a complete,
// matching set passes. Seeded from testdata/install (mod_md's staged
// md.json) and a locally issued set.
func FuzzStagedSet(f *testing.F) {
	mdJSON, err := os.ReadFile(filepath.Join("..", "..", "testdata", "install", "staged-md.json"))
	if err != nil {
		f.Fatal(err)
	}
	// a valid set for a1.test (the sample's name), from a throwaway CA
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caT := &x509.Certificate{SerialNumber: bigOne(), IsCA: true, BasicConstraintsValid: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, caKey.Public(), caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	leafT := &x509.Certificate{SerialNumber: bigOne(), DNSNames: []string{"a1.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leafT, caCert, leafKey.Public(), caKey)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	f.Add(mdJSON, chain, keyPEM)
	f.Add(mdJSON, chain[:len(chain)/2], keyPEM)
	f.Add([]byte("{}"), []byte("garbage"), []byte(""))

	durable, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	st, _ := durable.Deferred() // no fsync per iteration
	spec := md.KeySpec{Type: md.KeyRSA, Bits: 2048} // the sample's spec: files privkey.pem / pubcert.pem
	f.Fuzz(func(t *testing.T, mdData, certData, keyData []byte) {
		for file, data := range map[string][]byte{store.FileMD: mdData, spec.FileName("pubcert"): certData, spec.FileName("privkey"): keyData} {
			if err := st.Write(store.GroupStaging, "a1.test", file, data); err != nil {
				t.Fatal(err)
			}
		}
		set, err := loadStaged(st, "a1.test", md.KeySpecs{spec})
		if err != nil {
			return
		}
		if err := check(set.creds, []string{"a1.test"}, now); err != nil {
			return
		}
		// it passed: it must really be a matching, covering, chained set
		c := set.creds[0]
		if !publicKeysEqual(c.key.Public(), c.chain[0].PublicKey) || !covers(c.chain[0], "a1.test") || len(c.chain) < 2 {
			t.Fatalf("an invalid set passed the check")
		}
	})
}

func bigOne() *big.Int { return big.NewInt(1) }
