package staple

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/storetest"
	"golang.org/x/crypto/ocsp"
)

// clockedResponder is the real OCSP responder of lib/staple/ocsptest
// (signed responses, revoked and unknown serials) answering at the test's
// clock instead of the wall clock, so that two runs over the same store
// state get the same validity periods; it answers HTTP 503 while down.
type clockedResponder struct {
	*ocsptest.Responder
	URL      string
	clk      *clock
	down     atomic.Bool
	requests atomic.Int64
}

func newClockedResponder(t *testing.T, ca *ocsptest.CA, clk *clock) *clockedResponder {
	t.Helper()
	inner, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inner.Close)
	if err := inner.SetIssuer(ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cr := &clockedResponder{Responder: inner, URL: "http://" + ln.Addr().String() + "/", clk: clk}
	srv := &http.Server{Handler: cr, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(served) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	return cr
}

func (cr *clockedResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if cr.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err != nil {
		return
	}
	oreq, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, "malformed", http.StatusBadRequest)
		return
	}
	der, err := cr.Respond(oreq.SerialNumber, cr.clk.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	cr.requests.Add(1)
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(der)
}

// triageState is one MD in a store state the triage must decide as the
// full run does.
type triageState struct {
	name string
	// setup brings the MD's store files into the state, before the
	// runs compared (at the clock's start time).
	setup func(t *testing.T, fx *triageFixture, rec *md.Record)
	// record changes the record as it comes in (settings, an earlier
	// stage's error).
	record func(rec *md.Record)
	want   string // the first entry's action in both runs ("" none)
}

// triageFixture is one store (with a deploy directory) for the states.
type triageFixture struct {
	root string // store/ and deploy/
	st   *store.Store
	ca   *ocsptest.CA
	resp *clockedResponder
	clk  *clock
	t1   time.Time // when the compared runs happen
}

// runner is a Runner as md-staple makes one, at the fixture's clock.
func (fx *triageFixture) runner(ev *events, notes *Notes) *Runner {
	return &Runner{Store: fx.st, Now: fx.clk.Now, Log: &testLog{}, Notifier: ev.notifier,
		Jitter: func() byte { return 0 }, Notes: notes, LockWait: 5 * time.Second}
}

// at runs the full path over one record at time at (setting a state up).
func (fx *triageFixture) at(t *testing.T, at time.Time, rec *md.Record) {
	t.Helper()
	fx.clk.mu.Lock()
	fx.clk.t = at
	fx.clk.mu.Unlock()
	c := *rec
	r := fx.runner(&events{}, nil)
	if err := r.Run(t.Context(), r.SetsFromRecords(t.Context(), []*md.Record{&c})); err != nil {
		t.Fatal(err)
	}
}

// leaf installs a new certificate of the test CA as the MD's live one
// for spec ("": the default key, pubcert.pem), deployed if the record
// deploys, and returns its serial's responder handle.
func (fx *triageFixture) leaf(t *testing.T, rec *md.Record, ks md.KeySpec) {
	t.Helper()
	cert, _, chain, err := fx.ca.Leaf(ocsptest.LeafOptions{OCSP: fx.resp.URL, Name: rec.Name})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.st.Write(t.Context(), store.GroupDomains, rec.Name, ks.FileName("pubcert"), chain); err != nil {
		t.Fatal(err)
	}
	if rec.Host != nil && rec.Host.Deploy != nil {
		if err := os.WriteFile(filepath.Join(rec.Host.Deploy.Dir, ks.FileName("cert")), chain, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	switch {
	case strings.HasPrefix(rec.Name, "revoked"):
		fx.resp.Revoke(cert.SerialNumber, fx.t1.Add(-48*time.Hour))
	case strings.HasPrefix(rec.Name, "unknown"):
		fx.resp.MarkUnknown(cert.SerialNumber)
	}
}

var (
	rsaSpec = md.KeySpec{Type: md.KeyRSA, Bits: 2048}
	ecSpec  = md.KeySpec{Type: md.KeyEC, Curve: "secp384r1"}
)

// fetchedAt sets up a stored response fetched at t1 - ago.
func fetchedAt(ago time.Duration) func(*testing.T, *triageFixture, *md.Record) {
	return func(t *testing.T, fx *triageFixture, rec *md.Record) {
		fx.leaf(t, rec, rsaSpec)
		fx.at(t, fx.t1.Add(-ago), rec)
	}
}

// failedAt sets up a response fetched at t1 - fetched and an attempt
// that failed (responder down) at t1 - failed: a backoff of 15 s (the
// default 30 s at jitter 0) from then.
func failedAt(fetched, failed time.Duration) func(*testing.T, *triageFixture, *md.Record) {
	return func(t *testing.T, fx *triageFixture, rec *md.Record) {
		fetchedAt(fetched)(t, fx, rec)
		fx.resp.down.Store(true)
		defer fx.resp.down.Store(false)
		fx.at(t, fx.t1.Add(-failed), rec)
	}
}

var triageStates = []triageState{
	{name: "fresh.test", setup: fetchedAt(time.Hour), want: "kept"},
	{name: "fresh-deployed.test", setup: fetchedAt(2 * time.Hour), want: "kept"},
	{name: "due.test", setup: fetchedAt(20 * time.Hour), want: "fetched"},
	{name: "missing.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) { fx.leaf(t, rec, rsaSpec) }, want: "fetched"},
	{name: "missing-deployed.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) { fx.leaf(t, rec, rsaSpec) }, want: "fetched"},
	{name: "revoked.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) { fx.leaf(t, rec, rsaSpec) }, want: "fetched"},
	{name: "unknown.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) { fx.leaf(t, rec, rsaSpec) }, want: "failed"},
	{name: "off-fresh.test", setup: fetchedAt(time.Hour), record: stappingOff, want: "kept"},
	{name: "off-missing.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) { fx.leaf(t, rec, rsaSpec) }, record: stappingOff, want: "fetched"},
	{name: "off-must-staple.test", setup: fetchedAt(time.Hour), record: func(rec *md.Record) { stappingOff(rec); rec.MustStaple = true }, want: "kept"},
	{name: "nocert.test", want: "skipped"},
	{name: "waiting.test", setup: failedAt(20*time.Hour, 5*time.Second), want: "waiting"},
	{name: "waiting-expired.test", setup: failedAt(30*time.Hour, 5*time.Second), want: "waiting"},
	{name: "backoff-over.test", setup: failedAt(20*time.Hour, time.Minute), want: "fetched"},
	{name: "two-keys.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) {
		fetchedAt(time.Hour)(t, fx, rec)
		fx.leaf(t, rec, ecSpec) // a second key's certificate, no response yet
	}, record: func(rec *md.Record) { rec.PrivKey = md.KeySpecs{rsaSpec, ecSpec} }, want: "kept"},
	{name: "bad-settings.test", setup: fetchedAt(time.Hour), record: func(rec *md.Record) {
		rec.Settings = &md.Settings{StaplingRenewWindow: "soon"}
	}, want: ""},
	{name: "failed-earlier.test", setup: fetchedAt(20 * time.Hour), record: func(rec *md.Record) {
		rec.Fail("install", errors.New("reload failed"))
	}, want: "fetched"},
	{name: "bad-cert.test", setup: func(t *testing.T, fx *triageFixture, rec *md.Record) {
		if err := fx.st.Write(t.Context(), store.GroupDomains, rec.Name, "pubcert.pem", []byte("not a certificate\n")); err != nil {
			t.Fatal(err)
		}
	}, want: ""},
}

func stappingOff(rec *md.Record) { rec.Stapling = false }

// record makes the state's record as md-install passes it on.
func (fx *triageFixture) record(t *testing.T, s triageState) *md.Record {
	t.Helper()
	rec := &md.Record{MD: md.MD{Name: s.name, Domains: []string{s.name}, Stapling: true, State: md.StateComplete}}
	if strings.Contains(s.name, "deployed") {
		rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(fx.root, "deploy", s.name)}}
	}
	if s.record != nil {
		s.record(rec)
	}
	return rec
}

// TestTriageDecidesAsTheFullRun: over a table of store states (fresh
// response, due, missing, revoked, unknown, stapling off, must-staple
// without stapling, no live certificate, waiting in a backoff, backoff
// over, two keys of which one has no response, settings that do not
// parse, a record failed by an earlier stage, a certificate that does not
// parse), md-staple's streaming path (RunRecord per record, in parallel)
// leaves the same records (as md-staple prints them), job logs, files,
// deployed responses, events and memo notes as the full batch run (Run)
// from the same store state, with a real OCSP responder; and a second
// streaming run over the result is the no-op the batch run's is.
func TestTriageDecidesAsTheFullRun(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	ca, err := ocsptest.NewCA("Triage CA")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	fx := &triageFixture{root: filepath.Join(root, "live"), ca: ca, clk: clk, t1: clk.Now()}
	fx.resp = newClockedResponder(t, ca, clk)
	for _, d := range []string{"store", "deploy"} {
		if err := os.MkdirAll(filepath.Join(fx.root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	fx.st = openStore(t, filepath.Join(fx.root, "store"))
	for _, s := range triageStates {
		rec := fx.record(t, s)
		if rec.Host != nil {
			if err := os.MkdirAll(rec.Host.Deploy.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := fx.st.SaveMD(t.Context(), store.GroupDomains, &rec.MD); err != nil {
			t.Fatal(err)
		}
		if s.setup != nil {
			s.setup(t, fx, rec)
		}
	}
	fx.clk.mu.Lock()
	fx.clk.t = fx.t1
	fx.clk.mu.Unlock()
	fx.st.Close()
	snapshot := filepath.Join(root, "snapshot")
	storetest.CopyTree(t, fx.root, snapshot)

	type outcome struct {
		recs, notes []string
		files       map[string]string
		events      []string
		requests    int64
	}
	runs := map[string]func(r *Runner, recs []*md.Record) error{
		"batch": func(r *Runner, recs []*md.Record) error {
			return r.Run(t.Context(), r.SetsFromRecords(t.Context(), recs))
		},
		"stream": func(r *Runner, recs []*md.Record) error {
			errs := make([]error, len(recs))
			pool.Each(len(recs), 4, func(i int) { errs[i] = r.RunRecord(t.Context(), recs[i]) })
			return errors.Join(errs...)
		},
	}
	got := map[string][2]outcome{}
	for _, path := range []string{"batch", "stream"} {
		if err := os.RemoveAll(fx.root); err != nil {
			t.Fatal(err)
		}
		storetest.CopyTree(t, snapshot, fx.root)
		fx.st = openStore(t, filepath.Join(fx.root, "store"))
		var pair [2]outcome
		for round := range pair {
			var recs []*md.Record
			for _, s := range triageStates {
				recs = append(recs, fx.record(t, s))
			}
			ev, notes := &events{}, &Notes{}
			before := fx.resp.requests.Load()
			if err := runs[path](fx.runner(ev, notes), recs); err != nil {
				t.Fatalf("%s run %d: %v", path, round+1, err)
			}
			o := outcome{events: ev.list(), requests: fx.resp.requests.Load() - before}
			sort.Strings(o.events)
			for i, rec := range recs {
				b, err := rec.Redacted().MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				o.recs = append(o.recs, string(b))
				if until, ok := notes.Until(rec); ok {
					o.notes = append(o.notes, rec.Name+" "+until.String())
				}
				if round == 0 && path == "stream" {
					if e := firstAction(rec); e != triageStates[i].want {
						t.Errorf("%s: action %q; want %q (%s)", rec.Name, e, triageStates[i].want, b)
					}
				}
			}
			o.files = treeFiles(t, fx.root)
			pair[round] = o
		}
		fx.st.Close()
		got[path] = pair
	}
	for round := range 2 {
		b, s := got["batch"][round], got["stream"][round]
		for i := range b.recs {
			if b.recs[i] != s.recs[i] {
				t.Errorf("run %d: record %s:\nbatch  %s\nstream %s", round+1, triageStates[i].name, b.recs[i], s.recs[i])
			}
		}
		if strings.Join(b.notes, "\n") != strings.Join(s.notes, "\n") {
			t.Errorf("run %d: memo notes:\nbatch  %q\nstream %q", round+1, b.notes, s.notes)
		}
		if strings.Join(b.events, ",") != strings.Join(s.events, ",") {
			t.Errorf("run %d: events: batch %q, stream %q", round+1, b.events, s.events)
		}
		if b.requests != s.requests {
			t.Errorf("run %d: OCSP requests: batch %d, stream %d", round+1, b.requests, s.requests)
		}
		for f, bv := range b.files {
			if sv, ok := s.files[f]; !ok {
				t.Errorf("run %d: %s: only after the batch run", round+1, f)
			} else if sv != bv {
				t.Errorf("run %d: %s:\nbatch  %s\nstream %s", round+1, f, bv, sv)
			}
		}
		for f := range s.files {
			if _, ok := b.files[f]; !ok {
				t.Errorf("run %d: %s: only after the stream run", round+1, f)
			}
		}
	}
	if r := got["batch"]; r[0].requests == 0 || r[1].requests != 0 {
		t.Errorf("OCSP requests per batch run: %d, %d; want some, then none", r[0].requests, r[1].requests)
	}
}

func firstAction(rec *md.Record) string {
	if rec.Staple == nil || len(rec.Staple.Responses) == 0 {
		return ""
	}
	return rec.Staple.Responses[0].Action
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// treeFiles is what a run leaves under root: per file its content, but
// for stored responses and deployed DER files (their signatures differ
// between two fetches at the same time) only their size class and, for
// the JSON, everything but the response.
func treeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var mu sync.Mutex
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasSuffix(rel, ".lock") || strings.Contains(rel, "memo-") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		v := string(b)
		switch {
		case strings.HasSuffix(rel, ".ocsp"):
			v = "DER response"
		case strings.Contains(rel, "/ocsp-") && strings.HasSuffix(rel, ".json"):
			var s Stored
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
			s.Response = "..."
			v = s.Status + " " + s.Valid.From.String() + " " + s.Valid.Until.String()
		}
		mu.Lock()
		out[rel] = v
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunRecordLocked: an MD with nothing due is finished without its
// OCSP lock, so a lock another run holds does not matter; one with work
// whose lock stays held returns store.ErrLocked, unfinished and without
// a request (md-staple passes it on and exits 3), where Run fails the
// whole run.
func TestRunRecordLocked(t *testing.T) {
	clk := &clock{t: time.Now().Truncate(time.Second)}
	ca, err := ocsptest.NewCA("Locked CA")
	if err != nil {
		t.Fatal(err)
	}
	fx := &triageFixture{root: t.TempDir(), ca: ca, clk: clk, t1: clk.Now()}
	fx.resp = newClockedResponder(t, ca, clk)
	fx.st = newStore(t)
	fresh := fx.record(t, triageState{name: "fresh.test"})
	due := fx.record(t, triageState{name: "due.test"})
	fetchedAt(time.Hour)(t, fx, fresh)
	fetchedAt(20*time.Hour)(t, fx, due)
	clk.mu.Lock()
	clk.t = fx.t1
	clk.mu.Unlock()
	for _, rec := range []*md.Record{fresh, due} {
		unlock, err := fx.st.Lock(t.Context(), lockName(rec.Name), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
	}
	before := fx.resp.requests.Load()
	r := fx.runner(&events{}, nil)
	r.LockWait = 10 * time.Millisecond
	if err := r.RunRecord(t.Context(), fresh); err != nil || firstAction(fresh) != "kept" || fresh.Error != nil {
		t.Errorf("fresh: %v, %+v %+v; want kept without the lock", err, fresh.Staple, fresh.Error)
	}
	if err := r.RunRecord(t.Context(), due); !errors.Is(err, store.ErrLocked) || due.Staple != nil || due.Error != nil {
		t.Errorf("due: %v, %+v %+v; want ErrLocked and the record untouched", err, due.Staple, due.Error)
	}
	if n := fx.resp.requests.Load() - before; n != 0 {
		t.Errorf("%d requests; want none", n)
	}
	copyDue := *due
	if err := r.Run(t.Context(), r.SetsFromRecords(t.Context(), []*md.Record{&copyDue})); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Run: %v; want ErrLocked", err)
	}
}

// TestRunRecordRequestBound: RunRecord calls running at once make at most
// Parallel requests in flight together (the responder holds every request
// until Parallel are in flight, so that the bound is reached).
func TestRunRecordRequestBound(t *testing.T) {
	const parallel = 2
	clk := &clock{t: time.Now().Truncate(time.Second)}
	ca, err := ocsptest.NewCA("Bound CA")
	if err != nil {
		t.Fatal(err)
	}
	fx := &triageFixture{root: t.TempDir(), ca: ca, clk: clk, t1: clk.Now()}
	cr := newClockedResponder(t, ca, clk)
	var inFlight, most atomic.Int32
	gate := make(chan struct{})
	var once sync.Once
	gated := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if n >= parallel {
			once.Do(func() { close(gate) })
		}
		<-gate
		cr.ServeHTTP(w, req)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gated, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	fx.resp = &clockedResponder{Responder: cr.Responder, URL: "http://" + ln.Addr().String() + "/", clk: clk}
	fx.st = newStore(t)
	var recs []*md.Record
	for i := range 16 {
		rec := fx.record(t, triageState{name: "b" + string(rune('a'+i)) + ".test"})
		fx.leaf(t, rec, rsaSpec)
		recs = append(recs, rec)
	}
	r := fx.runner(&events{}, nil)
	r.Parallel = parallel
	pool.Each(len(recs), 8, func(i int) {
		if err := r.RunRecord(t.Context(), recs[i]); err != nil {
			t.Error(err)
		}
	})
	for _, rec := range recs {
		if firstAction(rec) != "fetched" {
			t.Errorf("%s: %+v %+v", rec.Name, rec.Staple, rec.Error)
		}
	}
	if got := most.Load(); got != parallel {
		t.Errorf("at most %d requests in flight; want %d", got, parallel)
	}
}
