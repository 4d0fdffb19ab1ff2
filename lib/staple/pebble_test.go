package staple

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/ocsp"
)

// TestStapleWithRealCA fetches responses for certificates a real Pebble
// issued, from a real responder signing with Pebble's intermediate key:
// good and revoked are stored as mod_md stores them, deploy files are
// written, a second run makes no request, and a run in the renew window
// fetches again.
func TestStapleWithRealCA(t *testing.T) {
	fx := pebble(t)
	st := newStore(t)
	deploy := t.TempDir()
	good := fx.install(t, st, "good.test", "good.test", "ec.good.test")
	good.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deploy, "good.test")}} // the MD's own path, as md.toml gives it
	if err := os.Mkdir(filepath.Join(deploy, "good.test"), 0o755); err != nil {             // as md-install leaves it
		t.Fatal(err)
	}
	revoked := fx.install(t, st, "revoked.test", "revoked.test")
	// Stapling off: revocation is still checked (md-order renews a revoked
	// certificate), but nothing is deployed and no event raised.
	off := fx.install(t, st, "off.test", "revoked.test")
	off.Stapling = false
	off.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deploy, "off.test")}}
	if err := os.Mkdir(filepath.Join(deploy, "off.test"), 0o755); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	ev := &events{}
	log := &testLog{}
	r := &Runner{Store: st, Now: clk.Now, Log: log, Notifier: ev.notifier}
	before := fx.responder.Requests.Load()
	recs := []*md.Record{good, revoked, off}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), recs)); err != nil {
		t.Fatal(err)
	}
	if n := fx.responder.Requests.Load() - before; n != 4 {
		t.Errorf("requests = %d; want 4", n)
	}
	for _, rec := range recs[:2] {
		if rec.Error != nil {
			t.Fatalf("%s: %v\nlog:\n%s", rec.Name, rec.Error, log)
		}
	}
	if e := entry(t, off, "rsa"); e.Status != StatusRevoked || e.Action != "fetched" || e.File != "" || e.Detail != checkOnlyDetail {
		t.Errorf("stapling off: %+v; want a revoked verdict, checked only", e)
	}
	if files, _ := os.ReadDir(filepath.Join(deploy, "off.test")); len(files) != 0 {
		t.Errorf("stapling off: deploy files %v", files)
	}
	for _, spec := range []string{"rsa", "secp256r1"} {
		e := entry(t, good, spec)
		if e.Status != StatusGood || e.Action != "fetched" || e.Source != "ocsp" || e.Responder != fx.responder.URL {
			t.Errorf("good.test %s: %+v", spec, e)
		}
		// The stored file is mod_md's, under the SHA-1 of the leaf DER.
		chainFile := "pubcert.pem"
		if spec != "rsa" {
			chainFile = "pubcert.secp256r1.pem"
		}
		chain, err := st.LoadChain(t.Context(), store.GroupDomains, "good.test", chainFile)
		if err != nil {
			t.Fatal(err)
		}
		id := CertID(chain[0].Raw)
		if e.ID != id {
			t.Errorf("id = %s; want %s", e.ID, id)
		}
		raw, err := st.Read(t.Context(), store.GroupOCSP, "good.test", "ocsp-"+id+".json")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			_ = dec.Decode(&skip)
		}
		if strings.Join(keys, ",") != "response,status,valid" {
			t.Errorf("stored keys %v; want mod_md's response,status,valid", keys)
		}
		s, ok, err := LoadResponse(t.Context(), st, "good.test", id)
		if !ok || err != nil {
			t.Fatalf("LoadResponse: %v %v", ok, err)
		}
		der, _ := s.DER()
		if _, err := ocsp.ParseResponseForCert(der, chain[0], fx.issuer); err != nil {
			t.Errorf("stored response does not verify: %v", err)
		}
		// The deploy file holds the same DER, and openssl reads it.
		dep := filepath.Join(deploy, "good.test", map[string]string{"rsa": "combined.pem.ocsp", "secp256r1": "combined.secp256r1.pem.ocsp"}[spec])
		if e.File != dep {
			t.Errorf("file = %q; want %q", e.File, dep)
		}
		got, err := os.ReadFile(dep)
		if err != nil || string(got) != string(der) {
			t.Errorf("deploy file %s: %v (%d bytes, want %d)", dep, err, len(got), len(der))
		}
		out, err := exec.Command("openssl", "ocsp", "-respin", dep, "-resp_text", "-noverify").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Cert Status: good") {
			t.Errorf("openssl ocsp -respin %s: %v\n%s", dep, err, out)
		}
	}
	e := entry(t, revoked, "rsa")
	if e.Status != StatusRevoked || e.Action != "fetched" {
		t.Errorf("revoked.test: %+v", e)
	}
	if len(revoked.Staple.Warnings) == 0 || !strings.Contains(revoked.Staple.Warnings[0], "REVOKED") {
		t.Errorf("revoked.test warnings: %v", revoked.Staple.Warnings)
	}
	for name, want := range map[string]bool{"good.test": false, "revoked.test": true, "off.test": true, "nothere.test": false} {
		got, err := HasRevoked(t.Context(), st, name)
		if err != nil || got != want {
			t.Errorf("HasRevoked(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	job, err := st.LoadJob(t.Context(), store.GroupOCSP, "good.test")
	if err != nil {
		t.Fatal(err)
	}
	if job.LastRun.IsZero() || job.Errors != 0 || !strings.Contains(job.Last.Detail, "certificate status is GOOD") {
		t.Errorf("job: %+v", job)
	}
	if _, ok := job.LastEntry("message-ocsp-renewed"); !ok {
		t.Errorf("job log has no message-ocsp-renewed: %+v", job.Log.Entries)
	}
	if got := ev.list(); len(got) != 2 {
		t.Errorf("events = %v; want ocsp-renewed for both MDs", got)
	}

	// Nothing due: no request, everything kept.
	before = fx.responder.Requests.Load()
	clk.Add(time.Hour)
	good.Staple, revoked.Staple, off.Staple = nil, nil, nil
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), recs)); err != nil {
		t.Fatal(err)
	}
	if n := fx.responder.Requests.Load() - before; n != 0 {
		t.Errorf("requests with nothing due = %d; want 0", n)
	}
	if e := entry(t, good, "rsa"); e.Action != "kept" || e.Status != StatusGood || e.RenewAt.IsZero() {
		t.Errorf("kept entry: %+v", e)
	}

	// Inside the renew window (33% of 24h before nextUpdate): fetch again,
	// but ocsp-renewed is raised at most daily.
	clk.Add(17 * time.Hour)
	good.Staple = nil
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{good})); err != nil {
		t.Fatal(err)
	}
	if n := fx.responder.Requests.Load() - before; n != 2 {
		t.Errorf("requests in the renew window = %d; want 2", n)
	}
	if e := entry(t, good, "rsa"); e.Action != "fetched" {
		t.Errorf("in window: %+v", e)
	}
	if got := ev.list(); len(got) != 2 {
		t.Errorf("events = %v; ocsp-renewed must be raised at most daily", got)
	}
}

// TestUnknownIsAnError: a responder saying "unknown" is a failed attempt.
func TestUnknownIsAnError(t *testing.T) {
	fx := pebble(t)
	st := newStore(t)
	rec := fx.install(t, st, "unknown.test", "unknown.test")
	r := &Runner{Store: st, Notifier: (&events{}).notifier}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
		t.Fatal(err)
	}
	if rec.Error == nil || !strings.Contains(rec.Error.Detail, "unknown") {
		t.Fatalf("error = %v", rec.Error)
	}
	if e := entry(t, rec, "rsa"); e.Action != "failed" || e.Errors != 1 || e.NextRun.IsZero() {
		t.Errorf("entry: %+v", e)
	}
	if files, _ := st.ListFiles(t.Context(), store.GroupOCSP, "unknown.test"); len(files) != 1 || files[0] != "job.json" {
		t.Errorf("ocsp files = %v; want only job.json", files)
	}
}

// TestEventsRunMessageCmd: with lib/event, ocsp-renewed and ocsp-errored
// run MDMessageCmd with mod_md's argv (reason, MD name) and are logged in
// the OCSP job; ocsp-errored at most hourly.
func TestEventsRunMessageCmd(t *testing.T) {
	fx := pebble(t)
	st := newStore(t)
	rec := fx.install(t, st, "good.test", "good.test")
	out := filepath.Join(t.TempDir(), "events.txt")
	rec.Settings = &md.Settings{MessageCmd: []string{"/bin/sh", "-c", `printf '%s %s\n' "$0" "$1" >> "` + out + `"`}}
	clk := &clock{t: time.Now()}
	r := &Runner{Store: st, Now: clk.Now}
	run := func() {
		t.Helper()
		rec.Staple, rec.Error = nil, nil
		if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
			t.Fatal(err)
		}
	}
	run()
	fx.responder.SetDown(true)
	defer fx.responder.SetDown(false)
	clk.Add(20 * time.Hour)
	run()
	clk.Add(10 * time.Minute) // past the 30s backoff, within the hour
	run()
	got, _ := os.ReadFile(out)
	if string(got) != "ocsp-renewed good.test\nocsp-errored good.test\n" {
		t.Errorf("MDMessageCmd runs:\n%s", got)
	}
	job, _ := st.LoadJob(t.Context(), store.GroupOCSP, "good.test")
	for _, typ := range []string{"message-ocsp-renewed", "message-ocsp-errored", "ocsp-error"} {
		if _, ok := job.LastEntry(typ); !ok {
			t.Errorf("job log has no %s entry", typ)
		}
	}
}
