package status

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
)

// recordingFS records which MD sets are touched.
type recordingFS struct {
	store.Backend
	mu   sync.Mutex
	sets map[string]bool
	list int
}

func (r *recordingFS) note(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets[name] = true
}
func (r *recordingFS) Read(ctx context.Context, g store.Group, name, file string) ([]byte, error) {
	if g == store.GroupRoot && file == store.RevokedFile("good.test") {
		name = "good.test" // the MD's own root file (md-order revoke)
	}
	r.note(name)
	return r.Backend.Read(ctx, g, name, file)
}
func (r *recordingFS) ModTime(ctx context.Context, g store.Group, name, file string) (time.Time, error) {
	r.note(name)
	return r.Backend.ModTime(ctx, g, name, file)
}
func (r *recordingFS) List(ctx context.Context, g store.Group) ([]string, error) {
	r.mu.Lock()
	r.list++
	r.mu.Unlock()
	return r.Backend.List(ctx, g)
}

func TestServe(t *testing.T) {
	dir, now := buildStore(t)
	fsb, err := store.NewFS(dir)
	must(t, err)
	rec := &recordingFS{Backend: fsb, sets: map[string]bool{}}
	st, err := store.OpenBackend(t.Context(), rec, dir)
	must(t, err)
	r := &Reader{Store: st, Now: func() time.Time { return now }}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", &Handler{Reader: r, Opts: DefaultOptions()}, func(a net.Addr) { addrc <- a })
	}()
	base := "http://" + (<-addrc).String()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	get := func(method, path, host string) (int, string, string) {
		req, err := http.NewRequest(method, base+path, nil)
		must(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	// One MD by name reads that MD only.
	rec.sets, rec.list = map[string]bool{}, 0
	code, ctype, body := get("GET", "/md-status/good.test", "")
	if code != 200 || ctype != "application/json" || !strings.Contains(body, `"name": "good.test"`) || !strings.Contains(body, `"log"`) {
		t.Errorf("/md-status/good.test: %d %s\n%s", code, ctype, body)
	}
	for s := range rec.sets {
		if s != "good.test" {
			t.Errorf("/md-status/good.test read set %q; want only good.test", s)
		}
	}
	if rec.list != 0 {
		t.Errorf("/md-status/good.test listed the store %d times", rec.list)
	}

	tests := []struct {
		method, path, host string
		code               int
		ctype, contains    string
	}{
		{"GET", "/md-status", "", 200, "application/json", `"managed-domains"`},
		{"GET", "/md-status/www.multi.test", "", 200, "application/json", `"name": "multi.test"`},
		{"GET", "/md-status/nosuch.test", "", 200, "application/json", `"managed-domains"`}, // as mod_md: the list
		{"GET", "/md-status/not a name", "", 200, "application/json", `"managed-domains"`},
		{"GET", "/.httpd/certificate-status", "staged.test:443", 200, "application/json", `"renewal"`},
		{"GET", "/.httpd/certificate-status", "other.test", 404, "text/plain; charset=utf-8", "no managed domain"},
		{"GET", "/metrics", "", 200, "text/plain; version=0.0.4; charset=utf-8", `md_cert_not_after_timestamp_seconds{md="good.test",spec="rsa"}`},
		{"GET", "/server-status", "", 200, "text/plain; charset=utf-8", "ManagedCertificatesTotal: 8"},
		{"GET", "/", "", 200, "text/html; charset=utf-8", "<title>Managed domains</title>"},
		{"POST", "/md-status", "", 501, "text/plain; charset=utf-8", "only GET"},
		{"GET", "/nothing", "", 404, "text/plain; charset=utf-8", "not found"},
	}
	for _, tc := range tests {
		code, ctype, body := get(tc.method, tc.path, tc.host)
		if code != tc.code || ctype != tc.ctype || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s (Host %q): %d %q; want %d %q containing %q\n%.400s", tc.method, tc.path, tc.host, code, ctype, tc.code, tc.ctype, tc.contains, body)
		}
	}
}
