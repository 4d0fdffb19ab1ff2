package install

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// sharedCA is one real Pebble for the package's tests (started lazily).
var (
	caOnce   sync.Once
	caShared *devca.CA
	caErr    error
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild(context.Background()))
	}
	code := m.Run()
	if caShared != nil {
		caShared.Stop()
	}
	os.Exit(code)
}

func testCA(t testing.TB) *devca.CA {
	t.Helper()
	caOnce.Do(func() {
		caShared, caErr = devca.Start(context.Background(), devca.Options{Dir: mustTempDir()})
	})
	if caErr != nil {
		t.Fatalf("starting Pebble: %v", caErr)
	}
	return caShared
}

func mustTempDir() string {
	d, err := os.MkdirTemp("", "install-devca-")
	if err != nil {
		panic(err)
	}
	return d
}

var ecSpec = md.KeySpec{Type: md.KeyEC, Curve: "P-256"}

func newKey(t testing.TB, spec md.KeySpec) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if spec.Type == md.KeyEC {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testRecord is an MD record as md-parse would give it.
func testRecord(name string, specs md.KeySpecs, domains ...string) *md.Record {
	if len(domains) == 0 {
		domains = []string{name}
	}
	ws := md.MustTimeslice("10%")
	rs := md.MustTimeslice("33%")
	return &md.Record{MD: md.MD{
		Name: name, Domains: domains, Transitive: 1, PrivKey: specs, RenewMode: md.RenewAuto,
		RenewWindow: &rs, WarnWindow: &ws,
		CA: &md.CA{Proto: md.ProtoACME, URLs: []string{"https://ca.example/dir"}},
	}}
}

// stagedCred is one key spec's staged material.
type stagedCred struct {
	spec  md.KeySpec
	key   crypto.Signer
	chain []*x509.Certificate
}

// stageSet writes a staged set as md-order does: md.json with ca.url,
// encrypted keys, pubcerts, a finished job.json.
func stageSet(t testing.TB, st *store.Store, rec *md.Record, creds []stagedCred) {
	ctx := t.Context()
	t.Helper()
	m := rec.MD
	m.CA = &md.CA{Proto: md.ProtoACME, URL: "https://127.0.0.1:14000/dir", URLs: []string{"https://127.0.0.1:14000/dir"}}
	m.State, m.StateDescr = md.StateIncomplete, "certificate(rsa) is missing"
	if err := st.SaveMD(ctx, store.GroupStaging, &m); err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if err := st.SaveKey(ctx, store.GroupStaging, rec.Name, c.spec.FileName("privkey"), c.key); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveChain(ctx, store.GroupStaging, rec.Name, c.spec.FileName("pubcert"), c.chain); err != nil {
			t.Fatal(err)
		}
	}
	job := &md.Job{Name: rec.Name, Finished: true, Notified: true, NotifiedRenewed: true}
	job.AddLog(time.Now(), "finished", "", "")
	if err := st.SaveJob(ctx, store.GroupStaging, rec.Name, job); err != nil {
		t.Fatal(err)
	}
}

// freshCreds issues a new certificate for every key spec of rec.
func freshCreds(t testing.TB, rec *md.Record) []stagedCred {
	t.Helper()
	specs := rec.PrivKey.Effective()
	out := make([]stagedCred, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		k := newKey(t, spec)
		out[i] = stagedCred{spec: spec, key: k}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			chain, err := testCA(t).Issue(ctx, rec.Domains, out[i].key)
			if err != nil {
				t.Errorf("issuing %v: %v", rec.Domains, err)
				return
			}
			out[i].chain = chain
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func openStore(t testing.TB) (*store.Store, string) {
	ctx := t.Context()
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// tree lists every file under dir with size and mode, for before/after
// comparisons.
func tree(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "locks") || rel == "store.lock" {
			return nil
		}
		data := ""
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			data = fmt.Sprintf("%x", b)
			if len(data) > 64 {
				data = fmt.Sprintf("%d:%x", len(b), sha(b))
			}
		}
		lines = append(lines, fmt.Sprintf("%s %v %s", rel, fi.Mode(), data))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func sha(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

func run(t testing.TB, st *store.Store, now time.Time, recs ...*md.Record) error {
	t.Helper()
	return Run(context.Background(), Options{Store: st, Now: func() time.Time { return now }, NoVerify: true, LockWait: 2 * time.Second}, recs)
}

func liveFingerprint(t testing.TB, st *store.Store, name string, spec md.KeySpec) string {
	ctx := t.Context()
	t.Helper()
	chain, err := st.LoadChain(ctx, store.GroupDomains, name, spec.FileName("pubcert"))
	if err != nil {
		t.Fatalf("live set of %s: %v", name, err)
	}
	return Fingerprint(chain[0])
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
