package staple

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/ocsp"
)

// TestResponderFaults: a fake responder (reached through MDHttpProxy)
// answers wrongly in each case. Every time the attempt fails with a clear
// error, the last good response stays, the job log has an ocsp-error and
// the backoff is recorded.
func TestResponderFaults(t *testing.T) {
	fx := pebble(t)
	leaf := fx.chains["good.test"][0]
	other := fx.chains["revoked.test"][0]
	otherIssuer := certtest.New(t, certtest.Spec{CA: true, Serial: big.NewInt(7)}) // not the issuer
	otherCA, otherKey := otherIssuer.Cert, otherIssuer.Key
	// A delegated responder certificate issued by the real issuer but
	// without id-kp-OCSPSigning.
	delegate := certtest.New(t, certtest.Spec{Names: []string{"delegate"}, Serial: big.NewInt(99), NotAfter: time.Now().Add(48 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Issuer: &certtest.Cert{Cert: fx.issuer, Key: fx.issuerKey}})
	deleg, delegKey := delegate.Cert, delegate.Key
	now := time.Now()
	create := func(tmpl ocsp.Response, issuer, responder *x509.Certificate, signer interface{}) []byte {
		t.Helper()
		if tmpl.SerialNumber == nil {
			tmpl.SerialNumber = leaf.SerialNumber
		}
		if tmpl.ThisUpdate.IsZero() {
			tmpl.ThisUpdate = now.Add(-time.Minute)
		}
		var b []byte
		var err error
		switch k := signer.(type) {
		case *ecdsa.PrivateKey:
			b, err = ocsp.CreateResponse(issuer, responder, tmpl, k)
		default:
			b, err = ocsp.CreateResponse(issuer, responder, tmpl, fx.issuerKey)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		body    func() []byte
		status  int
		hang    bool
		wantErr string
	}{
		{"garbage", func() []byte { return []byte("<html>this is not OCSP</html>") }, 200, false, "does not parse as OCSP"},
		{"http error", func() []byte { return []byte("oops") }, 500, false, "answered HTTP 500"},
		{"try later", func() []byte { return ocsp.TryLaterErrorResponse }, 200, false, "try later"},
		{"wrong signer", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, NextUpdate: now.Add(24 * time.Hour)}, fx.issuer, otherCA, otherKey)
		}, 200, false, "not signed by the issuer"},
		{"delegate without OCSPSigning", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, NextUpdate: now.Add(24 * time.Hour), Certificate: deleg}, fx.issuer, deleg, delegKey)
		}, 200, false, "lacks id-kp-OCSPSigning"},
		{"wrong cert ID (serial)", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, SerialNumber: other.SerialNumber, NextUpdate: now.Add(24 * time.Hour)}, fx.issuer, fx.issuer, nil)
		}, 200, false, "it answers for serial(s) [" + md.SerialHex(other.SerialNumber) + "]"},
		{"wrong cert ID (issuer)", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, NextUpdate: now.Add(24 * time.Hour)}, otherCA, fx.issuer, nil)
		}, 200, false, "no status for certid"},
		{"stale nextUpdate", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-48 * time.Hour), NextUpdate: now.Add(-time.Hour)}, fx.issuer, fx.issuer, nil)
		}, 200, false, "stale"},
		{"thisUpdate in the future", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(23 * time.Hour), NextUpdate: now.Add(48 * time.Hour)}, fx.issuer, fx.issuer, nil)
		}, 200, false, "in the future"},
		{"older than the stored one", func() []byte {
			return create(ocsp.Response{Status: ocsp.Good, ThisUpdate: now.Add(-2 * time.Hour), NextUpdate: now.Add(48 * time.Hour)}, fx.issuer, fx.issuer, nil)
		}, 200, false, "older than the stored one"},
		{"unknown", func() []byte {
			return create(ocsp.Response{Status: ocsp.Unknown, NextUpdate: now.Add(24 * time.Hour)}, fx.issuer, fx.issuer, nil)
		}, 200, false, "unknown"},
		{"5 MB body", func() []byte { return bytes.Repeat([]byte{0x30}, 5<<20) }, 200, false, "more than the limit"},
		{"hang", nil, 200, true, "no answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			rec := fx.install(t, st, "good.test", "good.test")
			clk := &clock{t: now}
			ev := &events{}
			// A generous time limit, so that a loaded machine cannot turn
			// a case into a timeout; only "hang" waits for it, shortened.
			r := &Runner{Store: st, Now: clk.Now, Notifier: ev.notifier, Timeout: 30 * time.Second, Jitter: func() byte { return 128 }}
			// First a good response from the real responder.
			if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil || rec.Error != nil {
				t.Fatalf("first run: %v %v", err, rec.Error)
			}
			id := entry(t, rec, "rsa").ID
			before, _ := st.Read(t.Context(), store.GroupOCSP, "good.test", ResponseFile(id))

			var hits atomic.Int32
			stop := make(chan struct{})
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				hits.Add(1)
				if tc.hang {
					select {
					case <-stop:
					case <-req.Context().Done():
					}
					return
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write(tc.body())
			}))
			defer fake.Close()
			defer close(stop)
			// Into the renew window, through the fake as proxy.
			clk.Add(20 * time.Hour)
			rec.Settings = &md.Settings{HTTPProxy: fake.URL, RetryDelay: "10mi"}
			rec.Staple, rec.Error = nil, nil
			if tc.hang {
				r.Timeout = 2 * time.Second
			}
			if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
				t.Fatal(err)
			}
			if hits.Load() != 1 {
				t.Fatalf("fake responder hits = %d; want 1", hits.Load())
			}
			if rec.Error == nil || rec.Error.Stage != "staple" || !strings.Contains(rec.Error.Detail, tc.wantErr) {
				t.Fatalf("error = %v; want one containing %q", rec.Error, tc.wantErr)
			}
			if !strings.Contains(rec.Error.Detail, "last good response is kept") {
				t.Errorf("error does not say the response is kept: %s", rec.Error.Detail)
			}
			e := entry(t, rec, "rsa")
			if e.Action != "failed" || e.Status != StatusGood || e.Errors != 1 || !e.NextRun.Equal(clk.Now().Add(10*time.Minute).Truncate(time.Second)) {
				t.Errorf("entry: %+v", e)
			}
			after, _ := st.Read(t.Context(), store.GroupOCSP, "good.test", ResponseFile(id))
			if !bytes.Equal(before, after) {
				t.Errorf("stored response changed after a failed attempt")
			}
			job, _ := st.LoadJob(t.Context(), store.GroupOCSP, "good.test")
			le, ok := job.LastEntry("ocsp-error")
			if !ok || !strings.Contains(le.Detail, tc.wantErr) || job.Errors != 1 {
				t.Errorf("job: errors %d, ocsp-error entry %+v", job.Errors, le)
			}
			if got := ev.list(); len(got) != 2 || got[1] != "ocsp-errored good.test" {
				t.Errorf("events = %v", got)
			}
			// Backoff: no request before next-run; the second failure doubles it.
			rec.Staple, rec.Error = nil, nil
			clk.Add(5 * time.Minute)
			_ = r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec}))
			if hits.Load() != 1 || rec.Error != nil || entry(t, rec, "rsa").Action != "waiting" || !strings.Contains(entry(t, rec, "rsa").Detail, tc.wantErr) {
				t.Fatalf("within backoff: hits %d, error %v, entry %+v", hits.Load(), rec.Error, entry(t, rec, "rsa"))
			}
			if tc.hang {
				return // one slow case is enough
			}
			clk.Add(6 * time.Minute)
			rec.Staple, rec.Error = nil, nil
			_ = r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec}))
			e = entry(t, rec, "rsa")
			if hits.Load() != 2 || e.Errors != 2 || !e.NextRun.Equal(clk.Now().Add(20*time.Minute).Truncate(time.Second)) {
				t.Errorf("second failure: hits %d, entry %+v", hits.Load(), e)
			}
			if got := ev.list(); len(got) != 2 {
				t.Errorf("ocsp-errored raised again within the hour: %v", got)
			}
		})
	}
}

// TestOutageAndRecovery: with the real responder down the response is
// kept; when it is back the errors are cleared.
func TestOutageAndRecovery(t *testing.T) {
	fx := pebble(t)
	st := newStore(t)
	rec := fx.install(t, st, "ec.good.test", "ec.good.test")
	clk := &clock{t: time.Now()}
	r := &Runner{Store: st, Now: clk.Now, Notifier: (&events{}).notifier, Jitter: func() byte { return 0 }}
	run := func() md.StapledStatus {
		t.Helper()
		rec.Staple, rec.Error = nil, nil
		if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
			t.Fatal(err)
		}
		return entry(t, rec, "secp256r1")
	}
	if e := run(); e.Action != "fetched" {
		t.Fatalf("first: %+v %v", e, rec.Error)
	}
	fx.responder.SetDown(true)
	defer fx.responder.SetDown(false)
	clk.Add(20 * time.Hour)
	e := run()
	// jitter 0 halves the delay: 30s default -> 15s.
	if e.Action != "failed" || e.Status != StatusGood || !strings.Contains(e.Detail, "HTTP 503") || !e.NextRun.Equal(clk.Now().Add(15*time.Second).Truncate(time.Second)) {
		t.Fatalf("down: %+v", e)
	}
	fx.responder.SetDown(false)
	clk.Add(time.Minute)
	if e := run(); e.Action != "fetched" || e.Errors != 0 || rec.Error != nil {
		t.Fatalf("recovered: %+v %v", e, rec.Error)
	}
	job, _ := st.LoadJob(t.Context(), store.GroupOCSP, "ec.good.test")
	if job.Errors != 0 || len(ocspfile.JobCerts(job)) != 0 {
		t.Errorf("job after recovery: errors %d, certs %v", job.Errors, ocspfile.JobCerts(job))
	}
}

// TestHungResponderFailsFast: when the responder stops answering, a run
// over many certificates does not wait out the timeout for each (at
// 100,000 MDs that would be hours): after a few requests in a row got no
// answer, the others fail at once, each recorded as a failure with the
// last good response kept.
func TestHungResponderFailsFast(t *testing.T) {
	fx := pebble(t)
	st := newStore(t)
	const n = 40
	var recs []*md.Record
	for i := range n {
		recs = append(recs, fx.install(t, st, fmt.Sprintf("m%02d.test", i), "good.test"))
	}
	clk := &clock{t: time.Now()}
	// first a good response for each from the real responder (its own
	// time limit: a loaded machine must not make this setup fail)
	r := &Runner{Store: st, Now: clk.Now, Notifier: (&events{}).notifier, Jitter: func() byte { return 128 }}
	if err := r.Run(t.Context(), r.SetsFromRecords(t.Context(), recs)); err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Error != nil {
			t.Fatalf("first run, %s: %v", rec.Name, rec.Error)
		}
	}
	var hits atomic.Int32
	stop := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		select {
		case <-stop:
		case <-req.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(stop)
	clk.Add(20 * time.Hour) // into the renew window
	for _, rec := range recs {
		rec.Settings = &md.Settings{HTTPProxy: hung.URL, RetryDelay: "10mi"}
		rec.Staple, rec.Error = nil, nil
	}
	r2 := &Runner{Store: st, Now: clk.Now, Notifier: (&events{}).notifier, Timeout: 300 * time.Millisecond, Jitter: func() byte { return 128 }}
	if err := r2.Run(t.Context(), r2.SetsFromRecords(t.Context(), recs)); err != nil {
		t.Fatal(err)
	}
	// The breaker opens after 5 unanswered requests; the ones on their
	// way when it does (DefaultParallel at once, and those the first
	// failed workers sent before the fifth failure) may time out too.
	limit := 5 + 2*DefaultParallel
	if hits.Load() > int32(limit) {
		t.Errorf("%d of %d requests reached the hung responder; want at most %d", hits.Load(), n, limit)
	}
	fast := 0
	for _, rec := range recs {
		if rec.Error == nil || !strings.Contains(rec.Error.Detail, "last good response is kept") {
			t.Fatalf("%s: error %v", rec.Name, rec.Error)
		}
		if strings.Contains(rec.Error.Detail, "the server did not answer") {
			fast++
		}
		if e := entry(t, rec, "rsa"); e.Action != "failed" || e.Status != StatusGood || e.Errors != 1 {
			t.Errorf("%s: entry %+v", rec.Name, e)
		}
	}
	if fast < n-limit {
		t.Errorf("%d certificates failed at once, want at least %d", fast, n-limit)
	}
	t.Logf("%d of %d requests reached the hung responder", hits.Load(), n)
}
