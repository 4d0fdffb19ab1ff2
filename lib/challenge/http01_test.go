package challenge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

const (
	testToken   = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	testThumb   = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
	testKeyAuth = testToken + "." + testThumb
)

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

func newManager(t *testing.T, st *store.Store, opts Options) *Manager {
	t.Helper()
	m, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func testRecord(domains ...string) *md.Record {
	return &md.Record{MD: md.MD{Name: domains[0], Domains: domains, RenewMode: md.RenewAuto}}
}

func TestCandidates(t *testing.T) {
	reach := func(h, s bool) *md.Settings { return &md.Settings{Reachable: &md.Reachable{HTTP: h, HTTPS: s}} }
	tests := []struct {
		name    string
		rec     md.Record
		want    []string
		wantErr string
	}{
		{name: "defaults, nothing configured", want: []string{HTTP01}},
		{name: "acme-tls/1 domains", rec: md.Record{MD: md.MD{Proto: md.Proto{ACMETLS1: []string{"a.test"}}}}, want: []string{TLSALPN01, HTTP01}},
		{name: "all three", rec: md.Record{MD: md.MD{Proto: md.Proto{ACMETLS1: []string{"a.test"}}, CmdDNS01: "/bin/hook"}}, want: []string{TLSALPN01, HTTP01, DNS01}},
		{name: "explicit list verbatim", rec: md.Record{MD: md.MD{CmdDNS01: "/bin/hook", CA: &md.CA{Challenges: []string{"invalid-01", DNS01, HTTP01}}}, Settings: reach(false, false)},
			want: []string{"invalid-01", DNS01, HTTP01}},
		{name: "explicit list: dns-01 without a command is dropped", rec: md.Record{MD: md.MD{CA: &md.CA{Challenges: []string{DNS01, HTTP01}}}},
			want: []string{HTTP01}},
		{name: "explicit dns-01 only, no command: fails before ordering", rec: md.Record{MD: md.MD{CA: &md.CA{Challenges: []string{DNS01}}}},
			wantErr: "MDCAChallenges allows only 'dns-01', and the DNS challenge 'dns-01' needs the directive 'MDChallengeDns01' (md.toml: challenge-dns01), which is not configured."},
		{name: "port 80 unreachable", rec: md.Record{MD: md.MD{Proto: md.Proto{ACMETLS1: []string{"a.test"}}}, Settings: reach(false, true)}, want: []string{TLSALPN01}},
		{name: "port 443 unreachable", rec: md.Record{MD: md.MD{Proto: md.Proto{ACMETLS1: []string{"a.test"}}}, Settings: reach(true, false)}, want: []string{HTTP01}},
		{name: "settings without reachable", rec: md.Record{Settings: &md.Settings{}}, want: []string{HTTP01}},
		{name: "only dns", rec: md.Record{MD: md.MD{CmdDNS01: "/bin/hook x"}, Settings: reach(false, false)}, want: []string{DNS01}},
		{name: "blank dns command", rec: md.Record{MD: md.MD{CmdDNS01: "  "}, Settings: reach(false, true)},
			wantErr: "None of the ACME challenge methods configured for this domain are suitable. The http: challenge 'http-01' is disabled because the server seems not reachable on public port 80. The https: challenge 'tls-alpn-01' is disabled because the Protocols configuration does not include the 'acme-tls/1' protocol. The DNS challenge 'dns-01' is disabled because the directive 'MDChallengeDns01' is not configured."},
		{name: "nothing reachable", rec: md.Record{Settings: reach(false, false)},
			wantErr: "None of the ACME challenge methods configured for this domain are suitable. The http: challenge 'http-01' is disabled because the server seems not reachable on public port 80. The https: challenge 'tls-alpn-01' is disabled because the server seems not reachable on public port 443. The DNS challenge 'dns-01' is disabled because the directive 'MDChallengeDns01' is not configured."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Candidates(&tc.rec)
			if tc.wantErr != "" {
				var se *md.StageError
				if !errors.As(err, &se) || se.Detail != tc.wantErr {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCandidatesDoesNotAliasRecord(t *testing.T) {
	rec := md.Record{MD: md.MD{CA: &md.CA{Challenges: []string{HTTP01, DNS01}}}}
	got, _ := Candidates(&rec)
	got[0] = "changed"
	if rec.CA.Challenges[0] != HTTP01 {
		t.Fatal("Candidates returned the record's own slice")
	}
}

func TestHTTP01SetupStoreAndWebroot(t *testing.T) {
	st, dir := openStore(t)
	webroot := t.TempDir()
	m := newManager(t, st, Options{})
	rec := testRecord("a.test", "www.a.test")
	rec.Host = &md.HostConfig{Webroot: webroot}
	task := Task{Type: HTTP01, Domain: "www.a.test", Token: testToken, KeyAuth: testKeyAuth}
	ctx := context.Background()
	if err := m.Setup(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(dir, "challenges", "www.a.test", "acme-http-01.txt")
	if b, err := os.ReadFile(stored); err != nil || string(b) != testKeyAuth {
		t.Fatalf("store file: %q, %v; want %q without newline", b, err, testKeyAuth)
	}
	if fi, _ := os.Stat(stored); fi.Mode().Perm() != 0o644 {
		t.Errorf("store file mode %v; want 0644", fi.Mode().Perm())
	}
	webFile := filepath.Join(webroot, ".well-known", "acme-challenge", testToken)
	if b, err := os.ReadFile(webFile); err != nil || string(b) != testKeyAuth {
		t.Fatalf("webroot file: %q, %v", b, err)
	}
	// A repeated setup with the same data does not rewrite the file.
	before, _ := st.ModTime(ctx, store.GroupChallenges, "www.a.test", store.FileHTTP01)
	if err := m.Setup(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	after, _ := st.ModTime(ctx, store.GroupChallenges, "www.a.test", store.FileHTTP01)
	if !before.Equal(after) {
		t.Errorf("unchanged key authorization was rewritten (%v -> %v)", before, after)
	}
	// Teardown without the token still finds the webroot file through the store.
	if err := m.Teardown(ctx, rec, Task{Type: HTTP01, Domain: "www.a.test"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stored, filepath.Dir(stored), webFile} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after teardown (%v)", p, err)
		}
	}
	// Teardown of nothing is fine.
	if err := m.Teardown(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
}

func TestHTTP01ChangedKeyAuthRewritten(t *testing.T) {
	st, _ := openStore(t)
	m := newManager(t, st, Options{})
	rec := testRecord("a.test")
	ctx := context.Background()
	other := strings.Repeat("A", 43)
	if err := m.Setup(ctx, rec, Task{Type: HTTP01, Domain: "a.test", Token: other, KeyAuth: other + "." + testThumb}); err != nil {
		t.Fatal(err)
	}
	if err := m.Setup(ctx, rec, Task{Type: HTTP01, Domain: "a.test", Token: testToken, KeyAuth: testKeyAuth}); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.Read(ctx, store.GroupChallenges, "a.test", store.FileHTTP01); string(b) != testKeyAuth {
		t.Fatalf("got %q; want %q", b, testKeyAuth)
	}
}

func TestSetupRejectsBadTasks(t *testing.T) {
	st, dir := openStore(t)
	m := newManager(t, st, Options{})
	rec := testRecord("a.test")
	rec.Host = &md.HostConfig{Webroot: t.TempDir()}
	tests := []struct {
		name string
		task Task
	}{
		{"token with slash", Task{HTTP01, "a.test", "../../../../etc/passwd/AAAAAAAAAAAAAAAA", "x"}},
		{"token too short", Task{HTTP01, "a.test", "abc", "abc." + testThumb}},
		{"token too long", Task{HTTP01, "a.test", strings.Repeat("a", 257), strings.Repeat("a", 257) + "." + testThumb}},
		{"token with padding", Task{HTTP01, "a.test", testToken + "=", testToken + "=." + testThumb}},
		{"key auth for other token", Task{HTTP01, "a.test", testToken, strings.Repeat("B", 43) + "." + testThumb}},
		{"key auth with newline", Task{HTTP01, "a.test", testToken, testKeyAuth + "\n"}},
		{"key auth short thumbprint", Task{HTTP01, "a.test", testToken, testToken + ".abc"}},
		{"domain traversal", Task{HTTP01, "../a.test", testToken, testKeyAuth}},
		{"domain wildcard", Task{HTTP01, "*.a.test", testToken, testKeyAuth}},
		{"domain upper case", Task{HTTP01, "A.test", testToken, testKeyAuth}},
		{"domain single label", Task{HTTP01, "localhost", testToken, testKeyAuth}},
		{"no type", Task{"", "a.test", testToken, testKeyAuth}},
		{"unknown type", Task{"http-02", "a.test", testToken, testKeyAuth}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.Setup(context.Background(), rec, tc.task); err == nil {
				t.Fatalf("Setup(%+v) succeeded", tc.task)
			}
		})
	}
	if names, _ := st.List(t.Context(), store.GroupChallenges); len(names) != 0 {
		t.Errorf("challenge data written for bad tasks: %v (store %s)", names, dir)
	}
	if err := m.Setup(context.Background(), &md.Record{MD: md.MD{Name: "a.test"}, Host: &md.HostConfig{Webroot: "relative/dir"}},
		Task{HTTP01, "a.test", testToken, testKeyAuth}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative webroot: got %v; want an error about absolute paths", err)
	}
}

func TestHTTPHandler(t *testing.T) {
	st, _ := openStore(t)
	if err := st.Write(t.Context(), store.GroupChallenges, "a.test", store.FileHTTP01, []byte(testKeyAuth)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(HTTPHandler(st, nil))
	defer srv.Close()
	tests := []struct {
		name, method, host, path string
		code                     int
		body                     string
	}{
		{"stored", "GET", "a.test", WellKnownPrefix + testToken, 200, testKeyAuth},
		{"host with port and case", "GET", "A.TEST:8080", WellKnownPrefix + testToken, 200, testKeyAuth},
		{"token not compared, as mod_md", "GET", "a.test", WellKnownPrefix + "other", 200, testKeyAuth},
		{"head", "HEAD", "a.test", WellKnownPrefix + testToken, 200, ""},
		{"post", "POST", "a.test", WellKnownPrefix + testToken, 501, ""},
		{"unknown host", "GET", "b.test", WellKnownPrefix + testToken, 404, ""},
		{"ip host", "GET", "127.0.0.1", WellKnownPrefix + testToken, 404, ""},
		{"traversal host", "GET", "..", WellKnownPrefix + testToken, 404, ""},
		{"empty token", "GET", "a.test", WellKnownPrefix, 404, ""},
		{"nested path", "GET", "a.test", WellKnownPrefix + "a/b", 404, ""},
		{"other path", "GET", "a.test", "/index.html", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d; want %d", resp.StatusCode, tc.code)
			}
			if tc.code == 200 {
				if string(body) != tc.body {
					t.Errorf("body %q; want %q", body, tc.body)
				}
				if resp.ContentLength != int64(len(testKeyAuth)) {
					t.Errorf("Content-Length %d; want %d", resp.ContentLength, len(testKeyAuth))
				}
			}
		})
	}
}

// TestHTTP01WithPebble obtains a real certificate for two names: the
// standalone listener answers Pebble's validation from the store, the
// webroot gets the token files, and teardown removes everything.
func TestHTTP01WithPebble(t *testing.T) {
	env := newACME(t, devca.Options{})
	st, dir := openStore(t)
	webroot := t.TempDir()
	m := newManager(t, st, Options{HTTPListen: env.httpAddr()})
	rec := testRecord("web.test", "www.web.test")
	rec.Host = &md.HostConfig{Webroot: webroot}
	var mu sync.Mutex
	var seen []string
	check := func(phase string, task Task) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, phase+" "+task.String())
		stored := filepath.Join(dir, "challenges", task.Domain, "acme-http-01.txt")
		webFile := filepath.Join(webroot, ".well-known", "acme-challenge", task.Token)
		for _, p := range []string{stored, webFile} {
			b, err := os.ReadFile(p)
			switch phase {
			case "setup":
				if err != nil || string(b) != task.KeyAuth {
					t.Errorf("after setup %s: %q, %v", p, b, err)
				}
			case "teardown":
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("after teardown %s still there", p)
				}
			}
		}
	}
	chain, err := env.issue(t, m, rec, check)
	if err != nil {
		t.Fatal(err)
	}
	requireCovers(t, chain, "web.test", "www.web.test")
	want := "setup http-01:web.test,setup http-01:www.web.test,teardown http-01:web.test,teardown http-01:www.web.test"
	slices.Sort(seen)
	if got := strings.Join(seen, ","); got != want {
		t.Errorf("phases %s; want %s", got, want)
	}
	if h, _ := m.Listening(); h == nil || h.String() != env.httpAddr() {
		t.Errorf("listener %v; want %s", h, env.httpAddr())
	}
}

// TestHTTP01ListenerBusy: a port that is taken fails the setup clearly.
func TestHTTP01ListenerBusy(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	st, _ := openStore(t)
	m := newManager(t, st, Options{HTTPListen: busy.Listener.Addr().String()})
	err := m.Setup(context.Background(), testRecord("a.test"), Task{HTTP01, "a.test", testToken, testKeyAuth})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v; want address already in use", err)
	}
	if names, _ := st.List(t.Context(), store.GroupChallenges); len(names) != 0 {
		t.Errorf("challenge data kept after the failed setup: %v", names)
	}
}

// TestManagerConcurrent: md-order's worker pool sets up and tears down
// many challenges at once through one Manager and one listener.
func TestManagerConcurrent(t *testing.T) {
	st, _ := openStore(t)
	m := newManager(t, st, Options{HTTPListen: "127.0.0.1:0"})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dns := fmt.Sprintf("m%d.test", i%12) // pairs share a name: serialised
			tok := fmt.Sprintf("%s%02d", strings.Repeat("T", 41), i)
			task := Task{Type: HTTP01, Domain: dns, Token: tok, KeyAuth: tok + "." + testThumb}
			rec := testRecord(dns)
			if err := m.Setup(ctx, rec, task); err != nil {
				t.Error(err)
				return
			}
			h, _ := m.Listening()
			req, _ := http.NewRequest("GET", "http://"+h.String()+WellKnownPrefix+tok, nil)
			req.Host = dns
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 && resp.StatusCode != 404 { // 404: the pair's teardown ran first
				t.Errorf("%s: status %d", dns, resp.StatusCode)
			}
			if err := m.Teardown(ctx, rec, task); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if names, _ := st.List(ctx, store.GroupChallenges); len(names) != 0 {
		t.Errorf("left over: %v", names)
	}
}

// TestAnnounceRaisesEvent: the Announce hook is where md-order raises
// challenge-setup:<type>:<dns>; a failing command fails the setup and the
// data is removed, as mod_md aborts the challenge.
func TestAnnounceRaisesEvent(t *testing.T) {
	st, dir := openStore(t)
	logf := filepath.Join(t.TempDir(), "events")
	record, _ := filepath.Abs("../../testdata/event/record-argv")
	fail, _ := filepath.Abs("../../testdata/event/fail")
	rec := testRecord("a.test")
	for _, tc := range []struct {
		name string
		cmd  []string
		ok   bool
	}{{"command succeeds", []string{record, logf}, true}, {"command fails", []string{fail, "1"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := event.New(&md.Settings{MessageCmd: tc.cmd})
			job := &md.Job{Name: "a.test"}
			m := newManager(t, st, Options{Announce: func(ctx context.Context, rec *md.Record, task Task) error {
				return n.Raise(ctx, job, "challenge-setup:"+task.Type+":"+task.Domain, rec.Name, time.Now())
			}})
			err := m.Setup(context.Background(), rec, Task{HTTP01, "a.test", testToken, testKeyAuth})
			stored := filepath.Join(dir, "challenges", "a.test", "acme-http-01.txt")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("[%s][%s][challenge-setup:http-01:a.test][a.test] stdin-eof", record, logf)
				if b, _ := os.ReadFile(logf); strings.TrimSpace(string(b)) != want {
					t.Errorf("event argv %q; want %q", b, want)
				}
				if e, ok := job.LastEntry("message-challenge-setup:http-01:a.test"); !ok || e.Type == "" {
					t.Errorf("job log %+v", job.Log.Entries)
				}
				if _, err := os.Stat(stored); err != nil {
					t.Error(err)
				}
				return
			}
			var se *md.StageError
			if !errors.As(err, &se) || se.Problem != event.ProblemMessageCmd {
				t.Fatalf("got %v; want the message command's failure", err)
			}
			if _, err := os.Stat(stored); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("challenge data kept after a failed announcement: %v", err)
			}
		})
	}
}

// TestListenerFromHostSection: without Options.HTTPListen the record's
// host."http-listen" (md.toml) is used, one listener per address; Close
// stops them all.
func TestListenerFromHostSection(t *testing.T) {
	ports, err := devca.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := openStore(t)
	m, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var addrs []string
	for i, dns := range []string{"a.test", "b.test", "c.test"} {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[i%2])
		addrs = append(addrs, addr)
		rec := testRecord(dns)
		rec.Host = &md.HostConfig{HTTPListen: addr}
		if err := m.Setup(ctx, rec, Task{HTTP01, dns, testToken, testKeyAuth}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(addr, host string) (int, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+WellKnownPrefix+testToken, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for i, dns := range []string{"a.test", "b.test", "c.test"} {
		if code, err := get(addrs[i], dns); err != nil || code != 200 {
			t.Errorf("%s on %s: %d %v", dns, addrs[i], code, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs[:2] {
		if _, err := get(a, "a.test"); err == nil {
			t.Errorf("%s still answers after Close", a)
		}
	}
	if err := m.Setup(ctx, &md.Record{MD: md.MD{Name: "a.test"}, Host: &md.HostConfig{HTTPListen: addrs[0]}},
		Task{HTTP01, "a.test", testToken, testKeyAuth}); err == nil {
		t.Error("a closed Manager started a listener")
	}
}

// TestWebrootTokenReplacesSpecialFile: a FIFO or a device where a webroot
// challenge file goes is replaced, not read (reading a FIFO blocks).
func TestWebrootTokenReplacesSpecialFile(t *testing.T) {
	for _, sp := range fsreadtest.Specials(t) {
		if sp.Path == "/dev/zero" {
			continue // cannot be planted in a webroot without root
		}
		t.Run(sp.Name, func(t *testing.T) {
			webroot, tok := t.TempDir(), strings.Repeat("t", 43)
			p, err := webrootTokenPath(webroot, tok)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(sp.Path, p); err != nil {
				t.Fatal(err)
			}
			fsreadtest.NoHang(t, func() { err = writeWebrootToken(webroot, tok, tok+".thumb") })
			if got, rerr := os.ReadFile(p); err != nil || rerr != nil || string(got) != tok+".thumb" {
				t.Errorf("got %q, %v, %v; want the key authorization written", got, err, rerr)
			}
		})
	}
}

// TestManagerCandidates: listeners given to the Manager (md-order
// --http-listen/--tls-listen) count as reachable; with NoListen they do not.
func TestManagerCandidates(t *testing.T) {
	st, _ := openStore(t)
	none := &md.Settings{Reachable: &md.Reachable{}}
	tests := []struct {
		name string
		opts Options
		want string // "" = error
	}{
		{name: "no listener", opts: Options{}, want: ""},
		{name: "http listener", opts: Options{HTTPListen: "127.0.0.1:0"}, want: HTTP01},
		{name: "tls listener needs no acme-tls/1 vhost", opts: Options{TLSListen: "127.0.0.1:0"}, want: TLSALPN01},
		{name: "both", opts: Options{HTTPListen: "127.0.0.1:0", TLSListen: "127.0.0.1:0"}, want: TLSALPN01 + " " + HTTP01},
		{name: "NoListen ignores them", opts: Options{HTTPListen: "127.0.0.1:0", NoListen: true}, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := testRecord("a.test")
			rec.Settings = none
			got, err := newManager(t, st, tc.opts).Candidates(rec)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %v; want an error", got)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}
