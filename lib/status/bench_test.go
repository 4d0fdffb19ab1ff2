package status

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// benchN is the size of the generated store (MDSTATUS_BENCH_N overrides).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("MDSTATUS_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10000
}

var (
	benchOnce sync.Once
	benchDir  string
)

// GenerateBenchStore writes n MDs, each with md.json, an ECDSA certificate
// chain (leaf + intermediate, signed by a throw-away CA), a domains
// job.json with a typical log, and for every tenth MD a staged renewal.
func GenerateBenchStore(tb testing.TB, dir string, n int) time.Time {
	st, err := store.Open(tb.Context(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	ca := certtest.New(tb, certtest.Spec{CA: true,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		SubjectKeyID: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}})
	leafKey := certtest.NewKey(tb)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("site%05d.example", i)
		m := baseMD(name, "www."+name)
		m.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "secp256r1"}}
		m.Stapling = i%2 == 0
		if err := st.SaveMD(tb.Context(), store.GroupDomains, m); err != nil {
			tb.Fatal(err)
		}
		from := now.Add(-time.Duration(i%80) * 24 * time.Hour)
		leaf := certtest.New(tb, certtest.Spec{Names: []string{name, "www." + name}, Serial: big.NewInt(int64(1000 + i)),
			NotBefore: from, NotAfter: from.Add(90 * 24 * time.Hour), Key: leafKey, Issuer: ca,
			OCSP: []string{"http://ocsp.example/"}, IssuerURLs: []string{"http://ca.example/int.der"}})
		chain := []*x509.Certificate{leaf.Cert, ca.Cert}
		if err := st.SaveChain(tb.Context(), store.GroupDomains, name, "pubcert.secp256r1.pem", chain); err != nil {
			tb.Fatal(err)
		}
		j := job(name, from, true, 0, &md.JobResult{ValidFrom: md.NewTime(from)})
		for k := 0; k < 30; k++ {
			j.AddLog(from, "progress", "", "Monitoring challenge status for "+name+": domain authorization is valid")
		}
		if err := st.SaveJob(tb.Context(), store.GroupDomains, name, j); err != nil {
			tb.Fatal(err)
		}
		if i%10 == 0 {
			sm := *m
			if err := st.SaveMD(tb.Context(), store.GroupStaging, &sm); err != nil {
				tb.Fatal(err)
			}
			if err := st.SaveChain(tb.Context(), store.GroupStaging, name, "pubcert.secp256r1.pem", chain); err != nil {
				tb.Fatal(err)
			}
			if err := st.SaveJob(tb.Context(), store.GroupStaging, name, j); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return now
}

// benchStore generates the store once and keeps it for later runs (and
// scripts/bench-status): in $MDSTATUS_BENCH_STORE, default
// $TMPDIR/md-status-bench-N. Generating 10,000 MDs takes a few minutes
// (every store write is fsync'ed); remove the directory to start over.
func benchStore(b *testing.B) (*Reader, string) {
	benchOnce.Do(func() {
		benchDir = os.Getenv("MDSTATUS_BENCH_STORE")
		if benchDir == "" {
			benchDir = filepath.Join(os.TempDir(), fmt.Sprintf("md-status-bench-%d", benchN()))
		}
		if _, err := os.Stat(benchDir + "/domains/site00000.example/md.json"); err != nil {
			t0 := time.Now()
			GenerateBenchStore(b, benchDir, benchN())
			fmt.Fprintf(os.Stderr, "generated %d MDs in %s in %v\n", benchN(), benchDir, time.Since(t0).Round(time.Millisecond))
		}
	})
	st, err := store.OpenReadOnly(benchDir)
	if err != nil {
		b.Fatal(err)
	}
	return &Reader{Store: st}, benchDir
}

func benchView(b *testing.B, view View) {
	r, _ := benchStore(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Render(b.Context(), io.Discard, view, nil, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/view")
}

func BenchmarkStatusJSON(b *testing.B)    { benchView(b, ViewJSON) }
func BenchmarkStatusTable(b *testing.B)   { benchView(b, ViewTable) }
func BenchmarkStatusMetrics(b *testing.B) { benchView(b, ViewMetrics) }

// BenchmarkServeOneMD measures GET /md-status/<name> over HTTP against the
// generated store.
func BenchmarkServeOneMD(b *testing.B) {
	r, _ := benchStore(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	go func() {
		_ = Serve(ctx, "127.0.0.1:0", &Handler{Reader: r, Opts: DefaultOptions()}, func(a net.Addr) { addrc <- a })
	}()
	base := "http://" + (<-addrc).String() + "/md-status/"
	client := &http.Client{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(base + fmt.Sprintf("site%05d.example", (i*7919)%benchN()))
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s", resp.Status, buf.String())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/request")
}
