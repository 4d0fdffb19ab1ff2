package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// fakeCA is an ACME server for fault injection only: it accepts any
// signature, answers orders as ready (no challenges) and issues what the
// fault asks for.
type fakeCA struct {
	t     *testing.T
	srv   *httptest.Server
	fault string
	caKey crypto.Signer
	ca    *x509.Certificate
	csr   *x509.CertificateRequest
	stop  chan struct{}
	// orders counts the new-order requests that reached the CA, dirs the
	// directory requests, aris the renewalInfo requests.
	orders, dirs, aris atomic.Int64
	// ariAnswer is what renewalInfo answers with fault "ari-switch" (nil:
	// 503).
	ariAnswer atomic.Pointer[string]
	// With fault "ari-barrier", renewalInfo holds each answer until
	// ariBarrier requests are in flight at once (ariFull is closed then),
	// and ariMax is the most that were.
	ariBarrier          int64
	ariFull             chan struct{}
	ariInFlight, ariMax atomic.Int64
}

func newFakeCA(t *testing.T, fault string) *fakeCA {
	f := &fakeCA{t: t, fault: fault}
	ca := certtest.New(t, certtest.Spec{CA: true, NotAfter: time.Now().Add(48 * time.Hour), SubjectKeyID: []byte{1, 2, 3}})
	f.ca, f.caKey = ca.Cert, ca.Key
	f.stop = make(chan struct{})
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.stop); f.srv.Close() })
	return f
}

func (f *fakeCA) url() string { return f.srv.URL + "/dir" }

// rootsFile writes the httptest server's certificate for --ca-file.
func (f *fakeCA) rootsFile(dir string) string {
	p := filepath.Join(dir, "fake-roots.pem")
	_ = os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644)
	return p
}

func payload(r *http.Request) []byte {
	var jws struct{ Payload string }
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &jws)
	b, _ := base64.RawURLEncoding.DecodeString(jws.Payload)
	return b
}

func (f *fakeCA) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Replay-Nonce", "nonce-"+time.Now().Format("150405.000000000"))
	base := f.srv.URL
	switch r.URL.Path {
	case "/dir":
		f.dirs.Add(1)
		if f.fault == "directory-down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if f.fault == "garbage-directory" {
			w.Write([]byte("{\"newNonce\": <html>garbage"))
			return
		}
		d := map[string]any{"newNonce": base + "/nonce", "newAccount": base + "/acct", "newOrder": base + "/order",
			"meta": map[string]any{"termsOfService": base + "/tos"}}
		if strings.HasPrefix(f.fault, "ari-") {
			d["renewalInfo"] = base + "/ari"
		}
		json.NewEncoder(w).Encode(d)
	case "/nonce":
		w.WriteHeader(http.StatusOK)
	case "/acct":
		w.Header().Set("Location", base+"/acct/1")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"status":"valid","contact":["mailto:admin@example.org"],"orders":"` + base + `/orders/1"}`))
	case "/order":
		f.orders.Add(1)
		switch f.fault {
		case "garbage-order":
			w.Header().Set("Location", base+"/o/1")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("\x00\x01 not json at all"))
			return
		case "rate-limited", "retry-after-10y":
			w.Header().Set("Retry-After", "3600")
			if f.fault == "retry-after-10y" {
				w.Header().Set("Retry-After", "315360000")
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new orders recently"}`))
			return
		case "malformed":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"type":"urn:ietf:params:acme:error:malformed","detail":"Error creating new order",
				"subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"name is blocked","identifier":{"type":"dns","value":"f.test"}}]}`))
			return
		case "hang":
			select {
			case <-r.Context().Done():
			case <-f.stop:
			}
			return
		}
		w.Header().Set("Location", base+"/o/1")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"status":"ready","identifiers":[{"type":"dns","value":"f.test"}],"authorizations":[],"finalize":"` + base + `/fin/1"}`))
	case "/fin/1":
		csr, err := x509.ParseCertificateRequest(mustB64(payloadCSR(payload(r))))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.csr = csr
		w.Write([]byte(`{"status":"valid","identifiers":[],"authorizations":[],"finalize":"` + base + `/fin/1","certificate":"` + base + `/cert/1"}`))
	case "/o/1":
		w.Write([]byte(`{"status":"valid","identifiers":[],"authorizations":[],"finalize":"` + base + `/fin/1","certificate":"` + base + `/cert/1"}`))
	case "/cert/1":
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		if f.fault == "garbage-cert" {
			w.Write([]byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
			return
		}
		w.Write(f.issue())
	default:
		if strings.HasPrefix(r.URL.Path, "/ari/") {
			f.aris.Add(1)
			switch f.fault {
			case "ari-hang":
				select {
				case <-r.Context().Done():
				case <-f.stop:
				}
			case "ari-503":
				http.Error(w, "renewalInfo is overloaded", http.StatusServiceUnavailable)
			case "ari-404":
				http.Error(w, "no such certificate", http.StatusNotFound)
			case "ari-503-ra":
				w.Header().Set("Retry-After", "7200")
				http.Error(w, "renewalInfo is overloaded, come back in 2 hours", http.StatusServiceUnavailable)
			case "ari-barrier":
				f.holdARI(r)
				w.Header().Set("Retry-After", "21600")
				start := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
				end := time.Now().Add(31 * 24 * time.Hour).UTC().Format(time.RFC3339)
				fmt.Fprintf(w, `{"suggestedWindow":{"start":%q,"end":%q}}`, start, end)
			case "ari-switch":
				a := f.ariAnswer.Load()
				if a == nil {
					http.Error(w, "renewalInfo is down", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Retry-After", "21600")
				w.Write([]byte(*a))
			}
			return
		}
		http.NotFound(w, r)
	}
}

// holdARI waits until f.ariBarrier renewalInfo requests are in flight.
// Only a client that never has that many at once keeps one waiting for
// the escape hatch, and its test fails on ariMax.
func (f *fakeCA) holdARI(r *http.Request) {
	n := f.ariInFlight.Add(1)
	defer f.ariInFlight.Add(-1)
	for old := f.ariMax.Load(); n > old && !f.ariMax.CompareAndSwap(old, n); old = f.ariMax.Load() {
	}
	if n == f.ariBarrier {
		close(f.ariFull)
	}
	select {
	case <-f.ariFull:
	case <-r.Context().Done():
	case <-f.stop:
	case <-time.After(20 * time.Second):
	}
}

func payloadCSR(p []byte) string {
	var v struct{ CSR string }
	_ = json.Unmarshal(p, &v)
	return v.CSR
}

func mustB64(s string) []byte {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	return b
}

// issue signs the CSR's key by hand, not with certtest: it runs on the
// server's goroutine (certtest's t.Fatal must not), and the faults are
// certificates no honest builder makes (wrong names, a key the CSR did
// not ask for, a signature by a CA other than the one in the chain).
func (f *fakeCA) issue() []byte {
	names, pub := f.csr.DNSNames, f.csr.PublicKey
	signer, parent := f.caKey, f.ca
	switch f.fault {
	case "other-names":
		names = []string{"other.test"}
	case "key-mismatch":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = k.Public()
	case "bad-chain": // signed by another CA than the one in the chain
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		other := *f.ca
		other.PublicKey = k.Public()
		signer, parent = k, &other
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour), AuthorityKeyId: parent.SubjectKeyId}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		f.t.Errorf("fake CA issuing: %v", err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Raw})
	return b.Bytes()
}

// liveSet puts a current, expiring certificate set into domains/<name> so
// that renewal is due, and returns the files' contents.
func liveSet(t *testing.T, dir, name string) map[string][]byte {
	t.Helper()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	c := certtest.New(t, certtest.Spec{Names: []string{name}, Serial: big.NewInt(7),
		NotBefore: time.Now().Add(-80 * 24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour)})
	if err := st.SaveChain(t.Context(), store.GroupDomains, name, "pubcert.pem", []*x509.Certificate{c.Cert}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveKey(t.Context(), store.GroupDomains, name, "privkey.pem", c.Key); err != nil {
		t.Fatal(err)
	}
	return snapshot(t, filepath.Join(dir, "domains", name))
}

func snapshot(t *testing.T, d string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(d, e.Name()))
		out[e.Name()] = b
	}
	return out
}

func TestFaultsStageNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault   string
		args    []string
		problem string
		detail  string
		next    time.Duration // minimum next-run distance
	}{
		{fault: "garbage-directory", problem: "urn:org:mdtools:ca-response-invalid", detail: "not valid JSON"},
		{fault: "garbage-order", problem: "urn:org:mdtools:ca-response-invalid", detail: "decoding order"},
		{fault: "other-names", problem: "urn:org:mdtools:cert-names-mismatch", detail: "is for other.test"},
		{fault: "key-mismatch", problem: "urn:org:mdtools:cert-key-mismatch", detail: "does not match the private key"},
		{fault: "bad-chain", problem: "urn:org:mdtools:cert-chain-invalid", detail: "is not signed by the next one"},
		{fault: "rate-limited", problem: "urn:ietf:params:acme:error:rateLimited", detail: "too many new orders", next: 59 * time.Minute},
		{fault: "malformed", problem: "urn:ietf:params:acme:error:malformed", detail: "Error creating new order", next: 12*time.Hour - time.Minute}, // a day, jittered by up to -50% (renew.Backoff)
		{fault: "retry-after-10y", problem: "urn:ietf:params:acme:error:rateLimited", detail: "capped at", next: 23 * time.Hour},
		{fault: "garbage-cert", problem: "urn:org:mdtools:cert-invalid", detail: "is not a certificate chain"},
		{fault: "hang", args: []string{"--timeout", "1500ms"}, detail: "no answer from the CA within 1.5s"},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			f := newFakeCA(t, tc.fault)
			dir := t.TempDir()
			before := liveSet(t, dir, "f.test")
			rec := record([]string{f.url()}, "f.test")
			rec.Settings.RetryDelay = "1h"
			events := filepath.Join(t.TempDir(), "events.log")
			script := filepath.Join(t.TempDir(), "msg.sh")
			os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+events+"\n"), 0o755)
			rec.Settings.MessageCmd = []string{script}
			start := time.Now()
			res := runOrder(t, jsonl(t, rec), append([]string{"--store", dir, "--ca-file", f.rootsFile(t.TempDir())}, tc.args...)...)
			if res.code != 1 || len(res.recs) != 1 {
				t.Fatalf("exit %d, %d records; want 1, 1\n%s", res.code, len(res.recs), res.stderr)
			}
			got := res.recs[0]
			if got.Error == nil || got.Error.Stage != "order" || got.Error.Problem != tc.problem || !strings.Contains(got.Error.Detail, tc.detail) {
				t.Errorf("error = %+v; want problem %q detail ~%q", got.Error, tc.problem, tc.detail)
			}
			if got.Order == nil || got.Order.Action != "failed" {
				t.Errorf("order = %+v", got.Order)
			}
			if !strings.Contains(res.stderr, "f.test") {
				t.Errorf("stderr does not name the MD:\n%s", res.stderr)
			}
			if tc.fault == "malformed" && (len(got.Error.Subproblems) != 1 || got.Error.Subproblems[0].Identifier == nil || got.Error.Subproblems[0].Identifier.Value != "f.test") {
				t.Errorf("subproblems = %+v", got.Error.Subproblems)
			}
			if tc.fault == "rate-limited" && got.Error.RetryAfter.Before(start.Add(59*time.Minute)) {
				t.Errorf("retry-after = %v", got.Error.RetryAfter)
			}
			if tc.fault == "retry-after-10y" && (got.Error.RetryAfter.After(time.Now().Add(renew.MaxRetryAfter)) || got.Error.RetryAfter.Before(start.Add(renew.MaxRetryAfter-time.Minute))) {
				t.Errorf("retry-after = %v; want capped at now + %v", got.Error.RetryAfter, renew.MaxRetryAfter)
			}
			// Nothing staged but the job log; nothing live touched.
			files, _ := os.ReadDir(filepath.Join(dir, "staging", "f.test"))
			for _, e := range files {
				switch e.Name() {
				case "job.json", "account.json", "account.pem":
				default:
					t.Errorf("staged after failure: %s", e.Name())
				}
			}
			after := snapshot(t, filepath.Join(dir, "domains", "f.test"))
			if len(after) != len(before) {
				t.Errorf("domains changed: %v", after)
			}
			for k, v := range before {
				if !bytes.Equal(after[k], v) {
					t.Errorf("domains/f.test/%s changed", k)
				}
			}
			st, _ := store.Open(t.Context(), dir)
			job, err := st.LoadJob(t.Context(), store.GroupStaging, "f.test")
			if err != nil || job.Errors != 1 || job.Last == nil || job.Last.Problem != tc.problem {
				t.Fatalf("job = %+v, %v", job, err)
			}
			if e, ok := job.LastEntry("renewal-error"); !ok || e.Status != tc.problem {
				t.Errorf("no renewal-error entry: %+v", job.Log.Entries)
			}
			if tc.next > 0 && job.NextRun.Before(start.Add(tc.next)) {
				t.Errorf("next-run %v is earlier than %v from now", job.NextRun, tc.next)
			}
			if job.NextRun.IsZero() {
				t.Errorf("no next-run")
			}
			if got, _ := os.ReadFile(events); string(got) != "renewing f.test\nerrored f.test\n" {
				t.Errorf("events %q; want renewing, errored", got)
			}
			// The next run respects the backoff: no attempt, but the MD
			// still fails with its last error (a cron run must not look
			// fine while it lasts).
			res = runOrder(t, jsonl(t, rec), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()))
			if o, e := res.recs[0].Order, res.recs[0].Error; res.code != 1 || o.Action != acmeflow.ActionBackoff || o.Errors != 1 ||
				o.NextRun.IsZero() || o.FailingSince.IsZero() || e == nil || e.Problem != tc.problem {
				t.Errorf("run in backoff: exit %d order %+v error %+v\n%s", res.code, o, e, res.stderr)
			}
		})
	}
}

var _ = md.Day

// TestUnansweringCAFailsFast: when the CA stops answering, a run over
// many MDs does not wait out the timeout for each of them (10,000 MDs at
// a minute each would take hours): after a few ACME requests in a row got
// no answer, the others fail at once, each recorded and reported as a
// failure (exit 1, job log, backoff) like one that timed out.
func TestUnansweringCAFailsFast(t *testing.T) {
	f := newFakeCA(t, "hang")
	dir := t.TempDir()
	const n, jobs = 30, 2
	var recs []*md.Record
	for i := range n {
		r := record([]string{f.url()}, fmt.Sprintf("f%02d.test", i))
		r.Settings.RetryDelay = "1h"
		recs = append(recs, r)
	}
	res := runOrder(t, jsonl(t, recs...), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()),
		"--timeout", "300ms", "-j", fmt.Sprint(jobs))
	if res.code != 1 || len(res.recs) != n {
		t.Fatalf("exit %d, %d records; want 1, %d\n%s", res.code, len(res.recs), n, res.stderr)
	}
	// The breaker opens after unansweredLimit (5) ACME requests in a row
	// got no answer. The account requests of the first MDs (one at a
	// time per worker, before the run's account is known) are answered
	// and start the count again, and orders already on their way when it
	// opens time out too: at most 5 + 2*jobs orders reach the CA.
	limit := int64(5 + 2*jobs)
	if got := f.orders.Load(); got > limit {
		t.Errorf("%d of %d orders reached the CA; want at most %d", got, n, limit)
	}
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	fast := 0
	for _, r := range res.recs {
		if r.Error == nil || r.Order == nil || r.Order.Action != "failed" {
			t.Fatalf("%s: order %+v, error %+v", r.Name, r.Order, r.Error)
		}
		if strings.Contains(r.Error.Detail, "requests in a row to 127.0.0.1") && strings.Contains(r.Error.Detail, "got no answer") {
			fast++
		}
		job, err := st.LoadJob(t.Context(), store.GroupStaging, r.Name)
		if err != nil || job.Errors != 1 || job.NextRun.IsZero() {
			t.Errorf("%s: job %+v, %v", r.Name, job, err)
		}
	}
	if fast < n-int(limit) {
		t.Errorf("%d MDs failed fast, want at least %d", fast, n-int(limit))
	}
}

// TestDirectoryDownAskedOnce: a CA whose directory cannot be fetched is
// asked once per run, not once per MD (a run over 100,000 MDs made 100,000
// requests to a CA that was down); every MD still fails as after its own
// try: recorded, with backoff, exit 1.
func TestDirectoryDownAskedOnce(t *testing.T) {
	f := newFakeCA(t, "directory-down")
	dir := t.TempDir()
	const n = 20
	var recs []*md.Record
	for i := range n {
		recs = append(recs, record([]string{f.url()}, fmt.Sprintf("d%02d.test", i)))
	}
	res := runOrder(t, jsonl(t, recs...), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()), "-j", "4")
	if res.code != 1 || len(res.recs) != n {
		t.Fatalf("exit %d, %d records; want 1, %d\n%s", res.code, len(res.recs), n, res.stderr)
	}
	if got := f.dirs.Load(); got != 1 {
		t.Errorf("the directory was asked %d times; want once", got)
	}
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.recs {
		if r.Error == nil || r.Order == nil || r.Order.Action != "failed" || !strings.Contains(r.Error.Detail, "503") {
			t.Fatalf("%s: order %+v, error %+v", r.Name, r.Order, r.Error)
		}
		job, err := st.LoadJob(t.Context(), store.GroupStaging, r.Name)
		if err != nil || job.Errors != 1 || job.NextRun.IsZero() {
			t.Errorf("%s: job %+v, %v", r.Name, job, err)
		}
	}
}

// A renewalInfo endpoint that hangs or answers 503 is asked by the first
// MDs of a run only (at most --ari-jobs at once), not once per MD, each of which
// cost its ARI timeout; every MD keeps the ARI window the CA suggested
// before, and one whose window has come is renewed all the same.
func TestARIDownAskedOnce(t *testing.T) {
	for _, tc := range []struct {
		fault string
		again time.Duration // when the MDs ask again, at least
		pause string        // how long the run leaves renewalInfo alone
	}{
		{"ari-hang", time.Hour, "1m0s"},
		{"ari-503", time.Hour, "1m0s"},
		// the CA's Retry-After is kept: by the MD that got it, and by
		// the MDs not asked meanwhile
		{"ari-503-ra", 2 * time.Hour, "1h0m0s"},
	} {
		fault := tc.fault
		t.Run(fault, func(t *testing.T) {
			f := newFakeCA(t, fault)
			dir := t.TempDir()
			st := mustStore(t, dir)
			now := time.Now()
			const n = 12
			// stale answers: a window next month, or (a00) one that has come
			recs, id := liveWithARI(t, st, f.url(), names("a%02d.test", n), now.Add(-time.Minute), func(i int) time.Time {
				if i == 0 {
					return now.Add(-2 * time.Hour)
				}
				return now.Add(30 * 24 * time.Hour)
			})
			res := runOrder(t, jsonl(t, recs...), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()), "-j", "2", "--ari-jobs", "4", "--timeout", "20s")
			if res.code != 0 || len(res.recs) != n {
				t.Fatalf("exit %d, %d records; want 0, %d\n%s", res.code, len(res.recs), n, res.stderr)
			}
			if got := f.aris.Load(); got < 1 || got > 4 {
				t.Errorf("renewalInfo asked %d times; want 1 to 4 (--ari-jobs 4), not once per MD\n%s", got, res.stderr)
			}
			if c := strings.Count(res.stderr, "not asked again for "+tc.pause+" "); c != 1 {
				t.Errorf("%d lines tell that ARI is paused for %s; want 1\n%s", c, tc.pause, res.stderr)
			}
			for i, r := range res.recs {
				want := "none"
				if i == 0 {
					want = "ordered"
				}
				if r.Order == nil || r.Order.Action != want {
					t.Errorf("%s: order %+v, want %s\n%s", r.Name, r.Order, want, res.stderr)
				}
				e := readARI(t, st, r.Name)[id]
				if i > 0 && (!e.Start.Equal(now.Add(30*24*time.Hour).Truncate(time.Second)) || e.RetryAfter.Before(now.Add(tc.again-time.Minute))) {
					t.Errorf("%s: ARI entry %+v: the old window is lost or asked again before %s", r.Name, e, tc.again)
				}
			}
		})
	}
}

// A CA whose directory cannot be fetched when the MDs' ARI answers are
// due gives one warning, not one per MD (100,000 lines in a cron mail
// before); -v lists the MDs that did not ask. Every MD keeps the window
// it had and asks again 1 to 6 hours on, the MDs at different times;
// nothing fails, since nothing is due.
func TestARIDirectoryDownWarnsOnce(t *testing.T) {
	const n = 12
	f, dir, st, now, recs, id := dueARI(t, "directory-down", "v%02d.test", n, 30*24*time.Hour)
	res := runOrder(t, jsonl(t, recs...), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()), "-j", "4", "-v")
	if res.code != 0 || len(res.recs) != n {
		t.Fatalf("exit %d, %d records; want 0, %d\n%s", res.code, len(res.recs), n, res.stderr)
	}
	if got := f.dirs.Load(); got != 1 {
		t.Errorf("the directory was asked %d times; want once", got)
	}
	warned, listed := 0, 0
	for _, line := range strings.Split(res.stderr, "\n") {
		switch {
		case strings.Contains(line, ": warning: ") && strings.Contains(line, ": ARI: "):
			warned++
		case strings.Contains(line, ": ARI: ") && strings.Contains(line, "not asked again before"):
			listed++
		}
	}
	if warned != 1 || listed != n-1 {
		t.Errorf("%d ARI warnings and %d MDs listed with -v; want 1 and %d\n%s", warned, listed, n-1, res.stderr)
	}
	retries := map[time.Time]bool{}
	for _, r := range res.recs {
		if r.Order == nil || r.Order.Action != "none" || r.Error != nil {
			t.Errorf("%s: order %+v, error %+v; want none", r.Name, r.Order, r.Error)
		}
		e := readARI(t, st, r.Name)[id]
		if !e.Start.Equal(now.Add(30*24*time.Hour).Truncate(time.Second)) || e.RetryAfter.Before(now.Add(59*time.Minute)) || e.RetryAfter.After(now.Add(6*time.Hour)) {
			t.Errorf("%s: ARI entry %+v: the old window is lost, or it asks again within the hour or after 6 hours", r.Name, e)
		}
		retries[e.RetryAfter.Time] = true
	}
	// spread: an outage must not make every hourly run ask about every MD
	if len(retries) < n/2 {
		t.Errorf("the %d MDs ask again at only %d different times", n, len(retries))
	}
}

// A renewalInfo that does not know the certificates (404: a CA switched in
// the config, say) answers every MD alike: three warnings and one line
// counting the others (-v names each), not a warning per MD per run.
func TestARIUnknownWarnsAlike(t *testing.T) {
	const n = 8
	f, dir, st, now, recs, _ := dueARI(t, "ari-404", "u%02d.test", n, 30*24*time.Hour)
	for _, tc := range []struct {
		args          []string
		warned, named int
	}{
		{nil, 3, 0},
		{[]string{"-v"}, 3, n - 3},
	} {
		for _, r := range recs {
			writeARI(t, st, r.Name, "", now, now, now.Add(-time.Minute)) // due again
		}
		res := runOrder(t, jsonl(t, recs...), append([]string{"--store", dir, "--ca-file", f.rootsFile(t.TempDir()), "-j", "2"}, tc.args...)...)
		if res.code != 0 || len(res.recs) != n {
			t.Fatalf("exit %d, %d records; want 0, %d\n%s", res.code, len(res.recs), n, res.stderr)
		}
		warned, named, counted := 0, 0, 0
		for _, l := range strings.Split(res.stderr, "\n") {
			switch {
			case strings.Contains(l, ": warning: 5 more MDs warned alike: <name>: ARI for "):
				counted++
			case strings.Contains(l, ": warning: u") && strings.Contains(l, ": ARI for "):
				warned++
			case strings.Contains(l, ": ARI for ") && strings.Contains(l, "404"):
				named++
			}
		}
		if warned != tc.warned || named != tc.named || counted != 1 {
			t.Errorf("md-order %v: %d warnings, %d named with -v, %d count lines; want %d, %d, 1\n%s", tc.args, warned, named, counted, tc.warned, tc.named, res.stderr)
		}
	}
}

// An MD waiting for its renewalInfo answer leaves its -j place to
// another: with -j 1 and --ari-jobs 4 four requests are in flight at once
// (the CA holds each until then), never more, and every MD gets its
// answer. Before, a run waited for one answer at a time per -j place.
func TestARIWaitsAside(t *testing.T) {
	const n = 10
	f, dir, st, now, recs, id := dueARI(t, "ari-barrier", "w%02d.test", n, 40*24*time.Hour)
	f.ariBarrier, f.ariFull = 4, make(chan struct{})
	res := runOrder(t, jsonl(t, recs...), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()), "-j", "1", "--ari-jobs", "4")
	if res.code != 0 || len(res.recs) != n {
		t.Fatalf("exit %d, %d records; want 0, %d\n%s", res.code, len(res.recs), n, res.stderr)
	}
	if got := f.ariMax.Load(); got != 4 {
		t.Errorf("%d renewalInfo requests were in flight at once; want 4 (--ari-jobs 4)", got)
	}
	if got := f.aris.Load(); got != n {
		t.Errorf("renewalInfo asked %d times; want %d, once per MD", got, n)
	}
	for _, r := range res.recs {
		if r.Order == nil || r.Order.Action != "none" {
			t.Errorf("%s: order %+v; want none", r.Name, r.Order)
		}
		if e := readARI(t, st, r.Name)[id]; e.Start.Before(now.Add(29*24*time.Hour)) || e.Start.After(now.Add(31*24*time.Hour)) || e.RetryAfter.Before(now.Add(5*time.Hour)) {
			t.Errorf("%s: ARI entry %+v; want the new window, asked again in 6 hours", r.Name, e)
		}
	}
}

// A record given twice while its MD waits aside for renewalInfo: the
// second waits for the MD's lock without holding a -j place, so the MD
// gets its place back and both end well. (Taking the place first, the
// second held the only place until its lock wait ran out: exit 3.)
func TestARIAsideRecordTwice(t *testing.T) {
	f := newFakeCA(t, "ari-barrier")
	f.ariBarrier, f.ariFull = 2, make(chan struct{})
	dir := t.TempDir()
	st := mustStore(t, dir)
	now := time.Now()
	recs, _ := liveWithARI(t, st, f.url(), []string{"d0.test", "d0.test", "d1.test"}, now.Add(-time.Minute), func(int) time.Time { return now.Add(40 * 24 * time.Hour) })
	res := runOrder(t, jsonl(t, recs...), "--store", dir, "--ca-file", f.rootsFile(t.TempDir()), "-j", "1", "--ari-jobs", "2", "--wait", "30s")
	if res.code != 0 || len(res.recs) != len(recs) {
		t.Fatalf("exit %d, %d records; want 0, %d\n%s", res.code, len(res.recs), len(recs), res.stderr)
	}
	for _, r := range res.recs {
		if r.Order == nil || r.Order.Action != "none" {
			t.Errorf("%s: order %+v; want none\n%s", r.Name, r.Order, res.stderr)
		}
	}
}

// TestARIFirstAnswersSpread runs md-order every hour for a day over MDs
// whose certificates are all asked about for the first time in one run
// (a store taken over from another client). Their second queries are
// spread over the six hourly runs that follow the CA's Retry-After, and
// stay spread: no later run asks about more than a third of them, each MD
// is asked every 6 hours and never sooner. Before, every sixth run asked
// about all of them and the five between about none.
func TestARIFirstAnswersSpread(t *testing.T) {
	f := newFakeCA(t, "ari-switch")
	dir := t.TempDir()
	st := mustStore(t, dir)
	roots := f.rootsFile(t.TempDir())
	t0 := time.Now().Truncate(time.Hour)
	answer := fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q}}`,
		t0.Add(50*24*time.Hour).UTC().Format(time.RFC3339), t0.Add(51*24*time.Hour).UTC().Format(time.RFC3339))
	f.ariAnswer.Store(&answer)
	const n = 48
	mds := names("s%02d.test", n)
	var id string
	for _, name := range mds {
		chain := selfSigned(t, name, t0.Add(-time.Hour), t0.Add(80*24*time.Hour))
		if err := st.SaveChain(t.Context(), store.GroupDomains, name, "pubcert.pem", chain); err != nil {
			t.Fatal(err)
		}
		id, _ = acmeflow.CertID(chain[0])
	}
	mgr, err := challenge.New(st, challenge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	asked := map[string][]int{} // hours at which each MD was asked
	last := map[string]time.Time{}
	for h := 0; h <= 24; h++ {
		now := t0.Add(time.Duration(h) * time.Hour)
		r := &acmeflow.Runner{Store: st, Challenges: mgr, CAFiles: []string{roots}, Now: func() time.Time { return now }}
		before := f.aris.Load()
		for _, name := range mds {
			rec := record([]string{f.url()}, name)
			if err := r.Process(context.Background(), rec); err != nil || rec.Order == nil || rec.Order.Action != "none" {
				t.Fatalf("hour %d, %s: %v, order %+v; want nothing due", h, name, err, rec.Order)
			}
			if ra := readARI(t, st, name)[id].RetryAfter.Time; !ra.Equal(last[name]) {
				asked[name], last[name] = append(asked[name], h), ra
			}
		}
		got := f.aris.Load() - before
		switch {
		case h == 0 && got != n:
			t.Errorf("hour 0: %d queries; want %d, one per MD", got, n)
		case h > 0 && got > n/3:
			t.Errorf("hour %d: %d of %d MDs asked in one run; want them spread over the hours", h, got, n)
		}
	}
	for _, name := range mds {
		hs := asked[name]
		for i := 1; i < len(hs); i++ {
			if d := hs[i] - hs[i-1]; d < 6 || i > 1 && d != 6 {
				t.Errorf("%s asked at hours %v; want 6 hours or more apart, then every 6 hours", name, hs)
				break
			}
		}
		if len(hs) < 4 {
			t.Errorf("%s asked at hours %v; want at least 4 times in a day", name, hs)
		}
	}
}

// liveWithARI stores a live certificate for each name and an ARI answer
// about it with the window start(i) for an hour, due again at retry; it
// returns a record per name, in order (a name may come twice), and the
// certificates' ARI ID (selfSigned gives every MD the same).
func liveWithARI(t *testing.T, st *store.Store, caURL string, mds []string, retry time.Time, start func(i int) time.Time) ([]*md.Record, string) {
	t.Helper()
	now := time.Now()
	var recs []*md.Record
	var id string
	for i, name := range mds {
		chain := selfSigned(t, name, now.Add(-time.Hour), now.Add(60*24*time.Hour))
		if err := st.SaveChain(t.Context(), store.GroupDomains, name, "pubcert.pem", chain); err != nil {
			t.Fatal(err)
		}
		id, _ = acmeflow.CertID(chain[0])
		writeARI(t, st, name, id, start(i), start(i).Add(time.Hour), retry)
		recs = append(recs, record([]string{caURL}, name))
	}
	return recs, id
}

// dueARI is a fake CA with the fault and a store of n MDs (format) with
// live certificates whose stored ARI answers, a window in the given time,
// are due; it returns what liveWithARI does, with the CA, the store and
// the time.
func dueARI(t *testing.T, fault, format string, n int, window time.Duration) (*fakeCA, string, *store.Store, time.Time, []*md.Record, string) {
	t.Helper()
	f := newFakeCA(t, fault)
	dir := t.TempDir()
	st := mustStore(t, dir)
	now := time.Now()
	recs, id := liveWithARI(t, st, f.url(), names(format, n), now.Add(-time.Minute), func(int) time.Time { return now.Add(window) })
	return f, dir, st, now, recs, id
}

// names is format applied to 0 .. n-1.
func names(format string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

type ariEntryJSON struct {
	Start      md.Time `json:"start"`
	End        md.Time `json:"end"`
	RetryAfter md.Time `json:"retry-after"`
}

func writeARI(t *testing.T, st *store.Store, name, id string, start, end, retry time.Time) {
	t.Helper()
	v := map[string]map[string]ariEntryJSON{"entries": {id: {md.NewTime(start), md.NewTime(end), md.NewTime(retry)}}}
	if err := st.SaveJSON(t.Context(), store.GroupRoot, "", store.ARIFile(name), v); err != nil {
		t.Fatal(err)
	}
}

func readARI(t *testing.T, st *store.Store, name string) map[string]ariEntryJSON {
	t.Helper()
	var v struct {
		Entries map[string]ariEntryJSON `json:"entries"`
	}
	if err := st.LoadJSON(t.Context(), store.GroupRoot, "", store.ARIFile(name), &v); err != nil {
		t.Fatal(err)
	}
	return v.Entries
}

// TestARIWindowSurvivesOutage is ARI over five runs with the clock moved
// forward: the CA suggests a window next month; then its renewalInfo goes
// down for good. Each run in the outage asks once its retry time has come,
// keeps the window it had and waits 1 to 6 hours more (ARIRetryFailed);
// when the window comes, the MD is renewed by it, the outage
// notwithstanding.
func TestARIWindowSurvivesOutage(t *testing.T) {
	f := newFakeCA(t, "ari-switch")
	dir := t.TempDir()
	st := mustStore(t, dir)
	roots := f.rootsFile(t.TempDir())
	t0 := time.Now().Truncate(time.Second)
	chain := selfSigned(t, "w.test", t0.Add(-time.Hour), t0.Add(80*24*time.Hour))
	if err := st.SaveChain(t.Context(), store.GroupDomains, "w.test", "pubcert.pem", chain); err != nil {
		t.Fatal(err)
	}
	id, _ := acmeflow.CertID(chain[0])
	start, end := t0.Add(30*24*time.Hour), t0.Add(31*24*time.Hour)
	answer := fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q}}`, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	f.ariAnswer.Store(&answer)
	// the first answer is asked again after its Retry-After (6 hours)
	// and the MD's spread
	first := t0.Add(6*time.Hour + acmeflow.FirstARISpread("w.test", id, 6*time.Hour))
	run := func(now time.Time) *md.Record {
		t.Helper()
		mgr, err := challenge.New(st, challenge.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer mgr.Close()
		r := &acmeflow.Runner{Store: st, Challenges: mgr, CAFiles: []string{roots}, Now: func() time.Time { return now }}
		rec := record([]string{f.url()}, "w.test")
		if err := r.Process(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	// in the outage it asks again 1 to 6 hours on, at a point fixed for
	// the MD and certificate
	retry := acmeflow.ARIRetryFailed("w.test", id)
	if retry < time.Hour || retry >= 6*time.Hour {
		t.Fatalf("ARIRetryFailed = %s, want 1 to 6 hours", retry)
	}
	down1 := first.Add(time.Hour)
	down2 := down1.Add(retry)
	steps := []struct {
		at         time.Time
		down       bool
		renew      bool  // an order reaches the CA
		asks       int64 // renewalInfo requests in the run
		retryAfter time.Time
	}{
		{t0, false, false, 1, first},
		{down1, true, false, 1, down2},
		{down1.Add(retry - time.Minute), true, false, 0, down2},
		{down2, true, false, 1, down2.Add(retry)},
		// (the fake CA's certificate is valid from the real now for a
		// day, so a month on md-order rejects it as expired: the order
		// is what counts here)
		{end, true, true, 1, end.Add(retry)},
	}
	for i, s := range steps {
		if s.down {
			f.ariAnswer.Store(nil)
		}
		asked, ordered := f.aris.Load(), f.orders.Load()
		rec := run(s.at)
		if rec.Order == nil || (rec.Order.Action == "none") == s.renew || f.orders.Load()-ordered != map[bool]int64{true: 1}[s.renew] {
			t.Fatalf("run %d at +%s: order %+v, %d orders at the CA; want renewal %v", i+1, s.at.Sub(t0), rec.Order, f.orders.Load()-ordered, s.renew)
		}
		if got := f.aris.Load() - asked; got != s.asks {
			t.Errorf("run %d: renewalInfo asked %d times; want %d", i+1, got, s.asks)
		}
		e := readARI(t, st, "w.test")[id]
		if !e.Start.Equal(start) || !e.End.Equal(end) || !e.RetryAfter.Equal(s.retryAfter) {
			t.Errorf("run %d: ARI entry %+v; want the window %s..%s, asked again at %s", i+1, e, start, end, s.retryAfter)
		}
	}
}
