package staple

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// opensslCA is a test CA run with `openssl ca` in a temp dir.
type opensslCA struct {
	dir string
	env []string
}

func (c *opensslCA) run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newOpensslCA(t *testing.T, crlURL string) *opensslCA {
	t.Helper()
	c := &opensslCA{dir: t.TempDir(), env: append(os.Environ(), "CRL_URL="+crlURL, "OCSP_URL="+crlURL)}
	cnf, err := os.ReadFile("../../testdata/staple/openssl-ca.cnf")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"ca.cnf": string(cnf), "index.txt": "", "serial": "1000\n", "crlnumber": "01\n"} {
		if err := os.WriteFile(filepath.Join(c.dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(c.dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	c.run(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=mdtools CRL test CA", "-days", "30",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "basicConstraints=critical,CA:TRUE")
	return c
}

// issue makes a leaf and returns its chain PEM (leaf + CA).
func (c *opensslCA) issue(t *testing.T, name, extensions string) []byte {
	t.Helper()
	c.run(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", name+".key", "-out", name+".csr", "-subj", "/CN="+name)
	c.run(t, "ca", "-batch", "-config", "ca.cnf", "-extensions", extensions, "-in", name+".csr", "-out", name+".crt", "-notext")
	leaf, err := os.ReadFile(filepath.Join(c.dir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(c.dir, "ca.crt"))
	return append(leaf, ca...)
}

func installPEM(t *testing.T, st *store.Store, name string, chainPEM []byte) *md.Record {
	t.Helper()
	rec := &md.Record{MD: md.MD{Name: name, Domains: []string{name}, Stapling: true, State: md.StateComplete}}
	if err := st.SaveMD(t.Context(), store.GroupDomains, &rec.MD); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(t.Context(), store.GroupDomains, name, "pubcert.pem", chainPEM); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestCRLWithOpensslCA: certificates without OCSP responder are checked
// against a real CRL made by `openssl ca -gencrl` (one certificate
// revoked), served over HTTP on loopback; the verdicts are stored, the
// CRL is cached, and a revoked certificate is reported by HasRevoked.
func TestCRLWithOpensslCA(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	crlURL := "http://" + ln.Addr().String() + "/ca.crl"
	ca := newOpensslCA(t, crlURL)
	goodPEM := ca.issue(t, "good.example", "leaf")
	revokedPEM := ca.issue(t, "revoked.example", "leaf")
	mustPEM := ca.issue(t, "must.example", "leaf_muststaple")
	ca.run(t, "ca", "-config", "ca.cnf", "-revoke", "revoked.example.crt", "-crl_reason", "keyCompromise")
	ca.run(t, "ca", "-config", "ca.cnf", "-gencrl", "-out", "ca.crl.pem")
	ca.run(t, "crl", "-in", "ca.crl.pem", "-outform", "DER", "-out", "ca.crl")
	var hits atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.ServeFile(w, r, filepath.Join(ca.dir, "ca.crl"))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	st := newStore(t)
	good := installPEM(t, st, "good.example", goodPEM)
	revoked := installPEM(t, st, "revoked.example", revokedPEM)
	must := installPEM(t, st, "must.example", mustPEM)
	clk := &clock{t: time.Now()}
	r := &Runner{Store: st, Now: clk.Now, Notifier: (&events{}).notifier}
	recs := []*md.Record{good, revoked, must}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), recs)); err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Error != nil {
			t.Fatalf("%s: %v", rec.Name, rec.Error)
		}
	}
	if hits.Load() != 3 {
		t.Errorf("CRL downloads = %d; want 3 (one per MD, each MD caches its own)", hits.Load())
	}
	for rec, want := range map[*md.Record]string{good: StatusGood, revoked: StatusRevoked, must: StatusGood} {
		e := entry(t, rec, "rsa")
		if e.Status != want || e.Source != "crl" || e.CRL != crlURL || e.Responder != "" || !strings.Contains(e.Detail, "no OCSP responder") {
			t.Errorf("%s: %+v", rec.Name, e)
		}
		if !st.Exists(t.Context(), store.GroupOCSP, rec.Name, CRLCacheFile(crlURL)) || !st.Exists(t.Context(), store.GroupOCSP, rec.Name, CRLStatusFile(e.ID)) {
			t.Errorf("%s: CRL cache or status file missing", rec.Name)
		}
		got, err := HasRevoked(t.Context(), st, rec.Name)
		if err != nil || got != (want == StatusRevoked) {
			t.Errorf("HasRevoked(%s) = %v, %v", rec.Name, got, err)
		}
	}
	if w := strings.Join(must.Staple.Warnings, "\n"); !strings.Contains(w, "must-staple") || !strings.Contains(w, "no OCSP responder") {
		t.Errorf("must-staple warnings: %q", w)
	}
	if len(good.Staple.Warnings) != 0 {
		t.Errorf("good warnings: %v", good.Staple.Warnings)
	}
	// Nothing due: no download.
	clk.Add(time.Hour)
	for _, rec := range recs {
		rec.Staple = nil
	}
	_ = r.Run(context.Background(), r.SetsFromRecords(t.Context(), recs))
	if hits.Load() != 3 || entry(t, revoked, "rsa").Action != "kept" || entry(t, revoked, "rsa").Status != StatusRevoked {
		t.Errorf("second run: downloads %d, entry %+v", hits.Load(), entry(t, revoked, "rsa"))
	}
	// Forced: the cached CRL is not used, a new one is downloaded.
	r.Force = true
	_ = r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{good}))
	if hits.Load() != 4 {
		t.Errorf("forced run: downloads %d; want 4", hits.Load())
	}

	// Another shard of the same CA (its issuing distribution point names
	// another URL) is refused: it says nothing about this certificate.
	shard := *ca
	shard.env = append(append([]string{}, ca.env...), "CRL_URL=http://127.0.0.1:1/other-shard.crl")
	shard.run(t, "ca", "-config", "ca.cnf", "-gencrl", "-out", "shard.crl.pem")
	shard.run(t, "crl", "-in", "shard.crl.pem", "-outform", "DER", "-out", "ca.crl")
	revoked.Staple = nil
	_ = r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{revoked}))
	if revoked.Error == nil || !strings.Contains(revoked.Error.Detail, "another shard") {
		t.Errorf("other shard: error %v", revoked.Error)
	}

	// A CRL signed by another CA is refused; the verdict stays.
	other := newOpensslCA(t, crlURL)
	other.run(t, "ca", "-config", "ca.cnf", "-gencrl", "-out", "ca.crl.pem")
	other.run(t, "crl", "-in", "ca.crl.pem", "-outform", "DER", "-out", filepath.Join(ca.dir, "ca.crl"))
	before, _ := st.Read(t.Context(), store.GroupOCSP, "revoked.example", CRLStatusFile(entry(t, revoked, "rsa").ID))
	revoked.Staple, revoked.Error = nil, nil
	_ = r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{revoked}))
	if revoked.Error == nil || !strings.Contains(revoked.Error.Detail, "CRL signature does not verify") {
		t.Errorf("foreign CRL: error %v", revoked.Error)
	}
	after, _ := st.Read(t.Context(), store.GroupOCSP, "revoked.example", CRLStatusFile(entry(t, revoked, "rsa").ID))
	if !bytes.Equal(before, after) {
		t.Errorf("CRL verdict changed after a failed check")
	}
	if ok, _ := HasRevoked(t.Context(), st, "revoked.example"); !ok {
		t.Errorf("revocation forgotten after a failed CRL check")
	}
}
