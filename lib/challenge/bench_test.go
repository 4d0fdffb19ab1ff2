package challenge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// BenchmarkHTTP01SetupTeardown: the store work of one http-01 challenge
// (atomic, fsynced write; purge), what md-order pays per authorization.
func BenchmarkHTTP01SetupTeardown(b *testing.B) {
	st, err := store.Open(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	m, _ := New(st, Options{})
	ctx := context.Background()
	rec := testRecord("bench.test")
	task := Task{HTTP01, "bench.test", testToken, testKeyAuth}
	for b.Loop() {
		if err := m.Setup(ctx, rec, task); err != nil {
			b.Fatal(err)
		}
		if err := m.Teardown(ctx, rec, task); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTLSALPN01Setup: key generation and certificate per key spec.
func BenchmarkTLSALPN01Setup(b *testing.B) {
	for _, spec := range []md.KeySpec{{Type: md.KeyEC, Curve: "P-256"}, {Type: md.KeyRSA, Bits: 2048}} {
		b.Run(spec.String(), func(b *testing.B) {
			st, err := store.Open(b.Context(), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			m, _ := New(st, Options{})
			rec := tlsRecord(md.KeySpecs{spec}, "bench.test")
			i := 0
			for b.Loop() {
				tok := fmt.Sprintf("%043d", i) // a new key authorization each time
				i++
				if err := m.Setup(context.Background(), rec, Task{TLSALPN01, "bench.test", tok, tok + "." + testThumb}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTPHandler: one http-01 answer from the store.
func BenchmarkHTTPHandler(b *testing.B) {
	st, err := store.Open(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Write(b.Context(), store.GroupChallenges, "bench.test", store.FileHTTP01, []byte(testKeyAuth)); err != nil {
		b.Fatal(err)
	}
	h := HTTPHandler(st, nil)
	req := httptest.NewRequest("GET", "http://bench.test"+WellKnownPrefix+testToken, nil)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
