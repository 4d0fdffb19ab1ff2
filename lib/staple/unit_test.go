package staple

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/ocsp"
)

// TestReadsModMDFiles: a response file written by Apache's mod_md 2.6.10
// reads back, and ours is written in the same shape.
func TestReadsModMDFiles(t *testing.T) {
	st := newStore(t)
	id := "a202d7ef1a68880427ca3c9159fab60e4ed19ba2"
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "staple", "modmd-ocsp-"+id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(t.Context(), store.GroupOCSP, "a1.test", ResponseFile(id), data); err != nil {
		t.Fatal(err)
	}
	s, ok, err := LoadResponse(t.Context(), st, "a1.test", id)
	if !ok || err != nil {
		t.Fatalf("LoadResponse: %v %v", ok, err)
	}
	der, err := s.DER()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ocsp.ParseResponse(der, nil)
	if err != nil || r.Status != ocsp.Good || s.Status != StatusGood || s.Valid.Until.IsZero() {
		t.Fatalf("mod_md response: %v %+v", err, s)
	}
	// Re-encode as we write it: byte-identical to mod_md's file.
	ours, err := md.StoreJSON(&Stored{Response: base64.RawURLEncoding.EncodeToString(der), Status: s.Status, Valid: s.Valid})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(ours)) != strings.TrimSpace(string(data)) {
		t.Errorf("our encoding differs from mod_md's:\n%s\nwant:\n%s", ours, data)
	}
	// mod_md's OCSP job.json reads as an md.Job.
	jb, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "staple", "modmd-ocsp-job.json"))
	var job md.Job
	if err := json.Unmarshal(jb, &job); err != nil || job.Name != "a1.test" || len(ocspfile.JobCerts(&job)) != 0 {
		t.Errorf("mod_md job: %v %+v", err, job)
	}
}

// TestParallelBoundAndOthers: --cert chains (the "other" set) are fetched
// with at most Parallel requests in flight.
func TestParallelBoundAndOthers(t *testing.T) {
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	ca, err := ocsptest.NewCA("Parallel Test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.SetIssuer(ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	var inFlight, maxInFlight atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		resp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	dir := t.TempDir()
	var files []string
	for i := 0; i < 20; i++ {
		_, _, chain, err := ca.Leaf(ocsptest.LeafOptions{OCSP: resp.URL})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "cert"+string(rune('a'+i))+".pem")
		if err := os.WriteFile(f, chain, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	st := newStore(t)
	r := &Runner{Store: st, Parallel: 3, Notifier: (&events{}).notifier}
	out, err := r.RunRecords(context.Background(), nil, &Options{CertFiles: files, CertOCSPOut: true, HTTPProxy: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != GroupOther || out[0].Error != nil {
		t.Fatalf("records: %+v", out)
	}
	if got := maxInFlight.Load(); got < 2 || got > 3 {
		t.Errorf("max in flight = %d; want 2..3", got)
	}
	for _, e := range out[0].Staple.Responses {
		if e.Action != "fetched" || e.Status != StatusGood || e.File != e.Cert+".ocsp" {
			t.Errorf("entry %+v", e)
		}
		if _, err := os.Stat(e.File); err != nil {
			t.Error(err)
		}
		if !st.Exists(t.Context(), store.GroupOCSP, GroupOther, ResponseFile(e.ID)) {
			t.Errorf("no ocsp/other/%s", ResponseFile(e.ID))
		}
	}
	// A missing file is that entry's failure, not the run's.
	out, err = r.RunRecords(context.Background(), nil, &Options{CertFiles: []string{filepath.Join(dir, "nope.pem")}})
	if err != nil || out[0].Error == nil || !strings.Contains(out[0].Error.Detail, "nope.pem") {
		t.Errorf("missing cert file: %v %+v", err, out[0].Error)
	}
}

// TestPrune: responses of certificates no longer installed go after the
// keep time; those of installed certificates stay however old, even when
// their responder fails.
func TestPrune(t *testing.T) {
	st := newStore(t)
	ca, _ := ocsptest.NewCA("Prune CA")
	_, _, chain, _ := ca.Leaf(ocsptest.LeafOptions{OCSP: "http://127.0.0.1:1/"})
	rec := installPEM(t, st, "prune.test", chain)
	id, _ := leafID(chain)
	old := "0123456789012345678901234567890123456789"
	for _, f := range []string{ResponseFile(id), ResponseFile(old), CRLStatusFile(old), "crl-aaaa.der", "job.json"} {
		if err := st.Write(t.Context(), store.GroupOCSP, "prune.test", f, []byte(`{"response":"AA","status":"good","valid":{"from":"Sat, 28 Nov 2026 14:42:34 GMT","until":"Sat, 28 Nov 2099 14:42:34 GMT"}}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A temp file a killed md-staple left behind is swept too.
	tmp := filepath.Join(st.String(), "ocsp", "prune.test", "."+ResponseFile(id)+".0123456789ab.tmp")
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().Add(8 * 24 * time.Hour)}
	// Forced, so there is work (pruning happens only then); the responder
	// is unreachable, which must not matter.
	r := &Runner{Store: st, Now: clk.Now, Force: true, Timeout: time.Second, Notifier: (&events{}).notifier}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
		t.Fatal(err)
	}
	files, _ := st.ListFiles(t.Context(), store.GroupOCSP, "prune.test")
	if strings.Join(files, ",") != "job.json,"+ResponseFile(id) {
		t.Errorf("after prune: %v", files)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file left in ocsp/prune.test: %v", err)
	}
}

// TestModMDStoreIDs: the OCSP id md-staple computes for a certificate
// mod_md installed is the name mod_md gave its response file, so
// HasRevoked and the not-due check read mod_md's files.
func TestModMDStoreIDs(t *testing.T) {
	st := newStore(t)
	td := filepath.Join("..", "..", "testdata", "staple")
	pub, err := os.ReadFile(filepath.Join(td, "modmd-a1.test-pubcert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := os.ReadFile(filepath.Join(td, "modmd-ocsp-a202d7ef1a68880427ca3c9159fab60e4ed19ba2.json"))
	rec := installPEM(t, st, "a1.test", pub)
	id, _ := leafID(pub)
	if id != "a202d7ef1a68880427ca3c9159fab60e4ed19ba2" {
		t.Fatalf("id = %s; mod_md named the file ocsp-a202d7ef1a68880427ca3c9159fab60e4ed19ba2.json", id)
	}
	if err := st.Write(t.Context(), store.GroupOCSP, "a1.test", ResponseFile(id), resp); err != nil {
		t.Fatal(err)
	}
	if got, err := HasRevoked(t.Context(), st, "a1.test"); got || err != nil {
		t.Errorf("HasRevoked = %v, %v", got, err)
	}
	// mod_md's response was valid for a day from 28 Nov 2026 14:42:34 GMT.
	clk := &clock{t: time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)}
	r := &Runner{Store: st, Now: clk.Now, Notifier: (&events{}).notifier}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
		t.Fatal(err)
	}
	if e := entry(t, rec, "rsa"); e.Action != "kept" || e.Status != StatusGood || e.Valid.Until.IsZero() {
		t.Errorf("mod_md's response not used: %+v", e)
	}
	revoked := strings.Replace(string(resp), `"status": "good"`, `"status": "revoked"`, 1)
	if err := st.Write(t.Context(), store.GroupOCSP, "a1.test", ResponseFile(id), []byte(revoked)); err != nil {
		t.Fatal(err)
	}
	if got, err := HasRevoked(t.Context(), st, "a1.test"); !got || err != nil {
		t.Errorf("HasRevoked after revocation = %v, %v", got, err)
	}
}

// TestConcurrentRuns: two runs at once fetch each response once: the
// second waits for the first's lock, re-reads and finds nothing due.
func TestConcurrentRuns(t *testing.T) {
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	ca, _ := ocsptest.NewCA("Concurrency CA")
	_ = resp.SetIssuer(ca.Cert, ca.Key)
	st := newStore(t)
	var recs [2][]*md.Record
	for i := 0; i < 5; i++ {
		_, _, chain, _ := ca.Leaf(ocsptest.LeafOptions{OCSP: resp.URL})
		name := "c" + string(rune('a'+i)) + ".test"
		recs[0] = append(recs[0], installPEM(t, st, name, chain))
		recs[1] = append(recs[1], &md.Record{MD: md.MD{Name: name, Domains: []string{name}, Stapling: true}})
	}
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func(i int) {
			r := &Runner{Store: st, Notifier: (&events{}).notifier, LockWait: 10 * time.Second}
			errs <- r.Run(context.Background(), r.SetsFromRecords(t.Context(), recs[i]))
		}(i)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := resp.Requests.Load(); n != 5 {
		t.Errorf("requests = %d; want 5 (one per certificate)", n)
	}
	for i := range recs[0] {
		a, b := entry(t, recs[0][i], "rsa").Action, entry(t, recs[1][i], "rsa").Action
		if !(a == "fetched" && b == "kept" || a == "kept" && b == "fetched") {
			t.Errorf("%s: actions %s and %s", recs[0][i].Name, a, b)
		}
	}
}

// TestUncheckable: a chain without issuer, a certificate without any
// revocation source and an expired one are warnings (skipped, looked at
// again in a day), not failures.
func TestUncheckable(t *testing.T) {
	ca, _ := ocsptest.NewCA("Skip CA")
	leaf, _, chain, _ := ca.Leaf(ocsptest.LeafOptions{OCSP: "http://127.0.0.1:1/"})
	_, _, noSource, _ := ca.Leaf(ocsptest.LeafOptions{})
	leafOnly := chain[:strings.Index(string(chain), "-----END CERTIFICATE-----")+len("-----END CERTIFICATE-----\n")]
	tests := []struct {
		name  string
		chain []byte
		now   time.Time
		want  string
	}{
		{"no issuer", leafOnly, time.Now(), "no issuer certificate"},
		{"no source", noSource, time.Now(), "neither an OCSP responder nor a CRL"},
		{"expired", chain, leaf.NotAfter.Add(time.Hour), "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			rec := installPEM(t, st, "skip.test", tc.chain)
			clk := &clock{t: tc.now}
			ev := &events{}
			r := &Runner{Store: st, Now: clk.Now, Notifier: ev.notifier}
			run := func() md.StapledStatus {
				rec.Staple, rec.Error = nil, nil
				if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
					t.Fatal(err)
				}
				return entry(t, rec, "rsa")
			}
			e := run()
			if rec.Error != nil || e.Action != "skipped" || !strings.Contains(e.Detail, tc.want) ||
				len(rec.Staple.Warnings) != 1 || len(ev.list()) != 0 {
				t.Fatalf("error %v, entry %+v, warnings %v, events %v", rec.Error, e, rec.Staple.Warnings, ev.list())
			}
			clk.Add(time.Hour)
			if e := run(); e.Action != "waiting" || !strings.Contains(e.Detail, tc.want) {
				t.Errorf("within a day: %+v", e)
			}
			clk.Add(24 * time.Hour)
			if e := run(); e.Action != "skipped" {
				t.Errorf("a day later: %+v", e)
			}
		})
	}
}
