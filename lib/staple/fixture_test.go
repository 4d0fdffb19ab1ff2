package staple

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

// pebbleFixture is one real Pebble CA whose issued certificates name a
// real OCSP responder (ocsptest, signing with Pebble's intermediate key),
// shared by the tests of this package and started on first use.
type pebbleFixture struct {
	ca        *devca.CA
	responder *ocsptest.Responder
	issuer    *x509.Certificate
	issuerKey crypto.Signer
	chains    map[string][]*x509.Certificate // by name
	keys      map[string]crypto.Signer
}

var (
	pebbleOnce sync.Once
	pebbleFx   *pebbleFixture
	pebbleErr  error
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(opensslChildEnv); dir != "" {
		os.Exit(opensslChild(context.Background(), dir))
	}
	code := m.Run()
	if pebbleFx != nil {
		pebbleFx.ca.Stop()
		pebbleFx.responder.Close()
		os.RemoveAll(pebbleFx.ca.Dir)
	}
	os.Exit(code)
}

// names of the certificates the fixture issues.
var fixtureNames = []string{"good.test", "revoked.test", "unknown.test", "ec.good.test"}

func pebble(t *testing.T) *pebbleFixture {
	t.Helper()
	pebbleOnce.Do(func() { pebbleFx, pebbleErr = startPebble() })
	if pebbleErr != nil {
		t.Fatalf("starting Pebble with an OCSP responder: %v", pebbleErr)
	}
	return pebbleFx
}

func startPebble() (*pebbleFixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	resp, err := ocsptest.Listen()
	if err != nil {
		return nil, err
	}
	ca, err := devca.Start(ctx, devca.Options{KeyAlgorithm: "rsa", OCSPResponderURL: resp.URL})
	if err != nil {
		resp.Close()
		return nil, err
	}
	fx := &pebbleFixture{ca: ca, responder: resp, chains: map[string][]*x509.Certificate{}, keys: map[string]crypto.Signer{}}
	ipem, err := ca.IntermediatePEM()
	if err != nil {
		return nil, err
	}
	kpem, err := ca.IntermediateKeyPEM()
	if err != nil {
		return nil, err
	}
	ic, err := store.ParseChainPEM(ipem)
	if err != nil {
		return nil, err
	}
	ik, err := store.ParseKeyPEM(kpem, nil)
	if err != nil {
		return nil, err
	}
	fx.issuer, fx.issuerKey = ic[0], ik
	if err := resp.SetIssuer(fx.issuer, fx.issuerKey); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for _, n := range fixtureNames {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			var key crypto.Signer
			if strings.HasPrefix(n, "ec.") {
				key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			} else {
				key, _ = rsa.GenerateKey(rand.Reader, 2048)
			}
			chain, ierr := ca.Issue(ctx, []string{n}, key)
			mu.Lock()
			defer mu.Unlock()
			if ierr != nil && firstErr == nil {
				firstErr = fmt.Errorf("issuing %s: %w", n, ierr)
				return
			}
			fx.chains[n], fx.keys[n] = chain, key
		}(n)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for _, n := range fixtureNames {
		if !fx.chains[n][1].Equal(fx.issuer) && !bytes.Equal(fx.chains[n][1].RawSubject, fx.issuer.RawSubject) {
			return nil, fmt.Errorf("%s is not issued by intermediate 0", n)
		}
	}
	resp.Revoke(fx.chains["revoked.test"][0].SerialNumber, time.Now().Add(-time.Hour))
	resp.MarkUnknown(fx.chains["unknown.test"][0].SerialNumber)
	return fx, nil
}

// install writes an installed set domains/<name>/ as md-install leaves it:
// md.json and one pubcert per key spec (chain names in spec order).
func (fx *pebbleFixture) install(t *testing.T, st *store.Store, name string, certs ...string) *md.Record {
	t.Helper()
	rec := &md.Record{MD: md.MD{Name: name, Domains: []string{name}, Stapling: true, State: md.StateComplete}}
	for _, c := range certs {
		if strings.HasPrefix(c, "ec.") {
			rec.PrivKey = append(rec.PrivKey, md.KeySpec{Type: md.KeyEC, Curve: "secp256r1"})
		} else {
			rec.PrivKey = append(rec.PrivKey, md.KeySpec{Type: md.KeyRSA, Bits: 2048})
		}
	}
	if err := st.SaveMD(t.Context(), store.GroupDomains, &rec.MD); err != nil {
		t.Fatal(err)
	}
	for i, c := range certs {
		ks := rec.PrivKey[i]
		if err := st.SaveChain(t.Context(), store.GroupDomains, name, ks.FileName("pubcert"), fx.chains[c]); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// clock is an injectable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testLog collects log lines.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(kind, f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, kind+fmt.Sprintf(f, a...))
}
func (l *testLog) Infof(f string, a ...any)  { l.add("", f, a...) }
func (l *testLog) Debugf(f string, a ...any) { l.add("debug: ", f, a...) }
func (l *testLog) Warnf(f string, a ...any)  { l.add("warning: ", f, a...) }
func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// events records raised events.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) notifier(*md.Settings) Notifier { return e }
func (e *events) Raise(_ context.Context, job *md.Job, reason, name string, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, reason+" "+name)
	job.AddLog(now, "message-"+reason, "", "")
	return nil
}
func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func entry(t *testing.T, rec *md.Record, spec string) md.StapledStatus {
	t.Helper()
	if rec.Staple == nil {
		t.Fatalf("%s: no staple section", rec.Name)
	}
	for _, e := range rec.Staple.Responses {
		if e.Spec == spec {
			return e
		}
	}
	t.Fatalf("%s: no response entry for spec %q in %+v", rec.Name, spec, rec.Staple.Responses)
	return md.StapledStatus{}
}
