package status

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

var (
	update      = flag.Bool("update", false, "rewrite the golden files")
	updateCerts = flag.Bool("update-certs", false, "re-issue the fixture certificates from a local Pebble (then -update)")
)

const fixtures = "../../testdata/status"

// fixtureCerts are real chains issued by Pebble (devca) once and kept in
// testdata/status/certs, so that golden output is stable. -update issues
// them again.
// -update-certs issues them again.
var fixtureCerts = []struct {
	file  string
	names []string
	ec    bool
}{
	{"good.test.pem", []string{"good.test"}, false},
	{"multi.test.ec.pem", []string{"multi.test", "www.multi.test"}, true},
	{"multi.test.rsa.pem", []string{"multi.test", "www.multi.test"}, false},
	{"staged.test.pem", []string{"staged.test"}, false},
	{"failing.test.pem", []string{"failing.test"}, false},
	{"eab.test.pem", []string{"eab.test", "*.eab.test"}, true},
}

func issueFixtures(t *testing.T) {
	ca := devca.StartT(t, devca.Options{OCSPResponderURL: "http://127.0.0.1:4002"})
	dir := filepath.Join(fixtures, "certs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtureCerts {
		var key crypto.Signer
		var err error
		if f.ec {
			key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		} else {
			key, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			t.Fatal(err)
		}
		names := f.names
		if strings.HasPrefix(names[len(names)-1], "*.") {
			names = names[:1] // Pebble's http-01 cannot validate wildcards
		}
		chain, err := ca.Issue(context.Background(), names, key)
		if err != nil {
			t.Fatalf("issuing %v: %v", names, err)
		}
		var buf bytes.Buffer
		for _, c := range chain {
			_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		if err := os.WriteFile(filepath.Join(dir, f.file), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadFixture(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, "certs", file))
	if err != nil {
		t.Fatalf("%v (run go test ./lib/status -update to issue the fixtures)", err)
	}
	chain, err := store.ParseChainPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func window(s string) *md.Timeslice { v := md.MustTimeslice(s); return &v }

func baseMD(name string, domains ...string) *md.MD {
	return &md.MD{
		Name: name, Domains: append([]string{name}, domains...), Contacts: []string{"mailto:admin@example.org"},
		Transitive: 1,
		CA: &md.CA{Account: "ACME-127.0.0.1-0000", Proto: "ACME", URL: "https://127.0.0.1:14000/dir",
			URLs: []string{"https://127.0.0.1:14000/dir"}, Agreement: "accepted", Challenges: []string{"http-01"}},
		PrivKey: md.KeySpecs{{Type: md.KeyRSA, Bits: 2048}}, State: md.StateComplete, RenewMode: md.RenewAuto,
		RenewWindow: window("33%"), WarnWindow: window("10%"), Proto: md.Proto{ACMETLS1: []string{}}, ARIRenewals: true,
	}
}

func job(name string, at time.Time, finished bool, errs int, last *md.JobResult, entries ...[2]string) *md.Job {
	j := &md.Job{Name: name, Finished: finished, Notified: finished, NotifiedRenewed: finished,
		LastRun: md.NewTime(at), Errors: errs, Last: last}
	for i := len(entries) - 1; i >= 0; i-- {
		j.AddLog(at, entries[i][0], "", entries[i][1])
	}
	return j
}

// buildStore writes a store with one MD per situation md-status must
// report, from the fixture certificates, and returns it with "now".
func buildStore(t *testing.T) (string, time.Time) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir)
	must(t, err)
	good := loadFixture(t, "good.test.pem")
	now := good[0].NotBefore.Add(3 * 24 * time.Hour).UTC()
	issued := good[0].NotBefore.UTC()

	// good.test: complete, stapled, OCSP good.
	m := baseMD("good.test")
	m.Stapling = true
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "good.test", "pubcert.pem", good))
	must(t, st.SaveJob(t.Context(), store.GroupDomains, "good.test", job("good.test", issued, true, 0, &md.JobResult{ValidFrom: md.NewTime(issued)},
		[2]string{"message-installed", ""}, [2]string{"finished", ""}, [2]string{"progress", "Retrieving rsa certificate chain for good.test"}, [2]string{"starting", ""})))
	gi := NewCertInfo(good)
	must(t, st.SaveJSON(t.Context(), store.GroupOCSP, "good.test", "ocsp-"+gi.SHA1+".json", map[string]any{
		"response": "MIIBywoBAKCC", "status": "good",
		"valid": md.Period{From: md.NewTime(now.Add(-time.Hour)), Until: md.NewTime(now.Add(23 * time.Hour))}}))
	oj := job("good.test", now.Add(-time.Hour), true, 0, &md.JobResult{Detail: "certificate status is GOOD", Activity: "status of certid " + gi.SHA1 + ", reading response"},
		[2]string{"finished", ""}, [2]string{"starting", ""})
	oj.Notified, oj.NotifiedRenewed = false, false
	must(t, st.SaveJob(t.Context(), store.GroupOCSP, "good.test", oj))

	// multi.test: two key specs, absolute renew window.
	m = baseMD("multi.test", "www.multi.test")
	m.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "secp256r1"}, {Type: md.KeyRSA, Bits: 2048}}
	m.RenewWindow = window("14d")
	m.RequireHTTPS = "permanent"
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "multi.test", "pubcert.secp256r1.pem", loadFixture(t, "multi.test.ec.pem")))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "multi.test", "pubcert.pem", loadFixture(t, "multi.test.rsa.pem")))

	// staged.test: first certificate renewed into staging, not activated.
	m = baseMD("staged.test")
	m.CA.Account, m.CA.URL = "", ""
	m.State, m.StateDescr = md.StateIncomplete, "certificate(rsa) is missing"
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	sm := baseMD("staged.test")
	sm.CA.Account = ""
	must(t, st.SaveMD(t.Context(), store.GroupStaging, sm))
	staged := loadFixture(t, "staged.test.pem")
	must(t, st.SaveChain(t.Context(), store.GroupStaging, "staged.test", "pubcert.pem", staged))
	sj := job("staged.test", now.Add(-2*time.Hour), true, 0, &md.JobResult{ValidFrom: md.NewTime(staged[0].NotBefore)},
		[2]string{"message-renewed", ""}, [2]string{"finished", ""},
		[2]string{"progress", "The certificate for the managed domain has been renewed successfully and can be used (valid since " + staged[0].NotBefore.UTC().Format(http.TimeFormat) + "). A graceful server restart now is recommended."},
		[2]string{"starting", ""})
	sj.ValidFrom = md.NewTime(staged[0].NotBefore)
	must(t, st.SaveJob(t.Context(), store.GroupStaging, "staged.test", sj))

	// failing.test: in its renew window, renewal failing with backoff.
	m = baseMD("failing.test")
	m.RenewWindow = window("80%")
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "failing.test", "pubcert.pem", loadFixture(t, "failing.test.pem")))
	fj := job("failing.test", now.Add(-10*time.Minute), false, 3, &md.JobResult{Status: 22, StatusDescription: "Invalid argument",
		Problem: "urn:ietf:params:acme:error:rateLimited", Detail: "too many new orders recently"},
		[2]string{"renewal-error", "urn:ietf:params:acme:error:rateLimited"},
		[2]string{"progress", "Creating new order, key-spec=rsa-2048: too many new orders recently, problem: urn:ietf:params:acme:error:rateLimited"},
		[2]string{"starting", ""})
	fj.NextRun = md.NewTime(now.Add(2 * time.Hour))
	fj.Log.Entries[0].Status = "urn:ietf:params:acme:error:rateLimited"
	must(t, st.SaveJob(t.Context(), store.GroupStaging, "failing.test", fj))

	// eab.test: EAB secret (shown as ***), wildcard name.
	m = baseMD("eab.test", "*.eab.test")
	m.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "secp256r1"}}
	m.EAB = &md.EAB{KID: "kid-1", HMAC: "c2VjcmV0LWhtYWMtdmFsdWU"}
	m.Profile = "shortlived"
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	must(t, st.SaveChain(t.Context(), store.GroupDomains, "eab.test", "pubcert.secp256r1.pem", loadFixture(t, "eab.test.pem")))

	// manual.test: renew mode manual, no certificate.
	m = baseMD("manual.test")
	m.RenewMode = md.RenewManual
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))

	// broken.test: a corrupted staging job.json and a truncated PEM.
	m = baseMD("broken.test")
	must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good[0].Raw})
	must(t, os.WriteFile(filepath.Join(dir, "domains", "broken.test", "pubcert.pem"), pemData[:len(pemData)/2], 0o600))
	must(t, os.MkdirAll(filepath.Join(dir, "staging", "broken.test"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "staging", "broken.test", "job.json"), []byte(`{"name": "broken.test", "finished": tru`), 0o644))

	// badmd.test: md.json is not JSON.
	must(t, os.MkdirAll(filepath.Join(dir, "domains", "badmd.test"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "domains", "badmd.test", "md.json"), []byte("{\"name\": \"badmd.test\",\n"), 0o600))
	return dir, now
}

// normalize replaces the temp store path in output.
func normalize(b []byte, dir string) []byte {
	return bytes.ReplaceAll(b, []byte(dir), []byte("STORE"))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(fixtures, "golden", name)
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lib/status -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file; got:\n%s", name, got)
	}
}

func TestGoldenViews(t *testing.T) {
	if *updateCerts {
		issueFixtures(t)
	}
	dir, now := buildStore(t)
	st, err := store.OpenReadOnly(dir)
	must(t, err)
	r := &Reader{Store: st, Now: func() time.Time { return now }}
	opts := DefaultOptions()
	tests := []struct {
		file  string
		view  View
		names []string
		color bool
	}{
		{"list.json", ViewJSON, nil, false},
		{"failing.test.json", ViewJSON, []string{"failing.test"}, false},
		{"staged.test.json", ViewJSON, []string{"staged.test"}, false},
		{"good.test.json", ViewJSON, []string{"good.test"}, false},
		{"certificate-status-staged.test.json", ViewCertStatus, []string{"staged.test"}, false},
		{"certificate-status-multi.test.json", ViewCertStatus, []string{"multi.test"}, false},
		{"table.txt", ViewTable, nil, false},
		{"table-color.txt", ViewTable, nil, true},
		{"plan.json", ViewPlan, nil, false},
		{"plan.txt", ViewPlanText, nil, false},
		{"metrics.prom", ViewMetrics, nil, false},
		{"server-status.txt", ViewServerStatus, nil, false},
		{"page.html", ViewHTML, nil, false},
		{"good.test.txt", ViewDetail, []string{"good.test"}, false},
		{"failing.test.txt", ViewDetail, []string{"failing.test"}, false},
		{"staged.test.txt", ViewDetail, []string{"staged.test"}, false},
		{"multi.test.txt", ViewDetail, []string{"multi.test"}, false},
		{"detail-all.txt", ViewDetail, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var buf bytes.Buffer
			o := opts
			o.Color = tc.color
			err := r.Render(t.Context(), &buf, tc.view, tc.names, o)
			var bad *BadStoreError
			if tc.names == nil {
				// broken.test and badmd.test are unreadable: output in full, error 2.
				if !errors.As(err, &bad) || bad.N != 2 {
					t.Errorf("Render: %v; want 2 MDs with unreadable files", err)
				}
			} else if err != nil {
				t.Errorf("Render: %v", err)
			}
			golden(t, tc.file, normalize(buf.Bytes(), dir))
		})
	}
}

// TestSampleStoreByteForByte rebuilds the store Apache's mod_md wrote for
// the reference samples and checks md-status's output against mod_md's own
// md-status and certificate-status answers, byte for byte.
func TestSampleStoreByteForByte(t *testing.T) {
	S := filepath.Join(fixtures, "samples") // copied from Apache's mod_md 2.6.10 run
	cp := func(src, dst string) {
		b, err := os.ReadFile(filepath.Join(S, src))
		must(t, err)
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		must(t, os.WriteFile(dst, b, 0o644))
	}
	installed, staged := t.TempDir(), t.TempDir()
	cp("domains-a1.test-md.json", installed+"/domains/a1.test/md.json")
	cp("domains-a1.test-pubcert.pem", installed+"/domains/a1.test/pubcert.pem")
	cp("domains-a1.test-job.json", installed+"/domains/a1.test/job.json")
	cp("ocsp-a1.test-job.json", installed+"/ocsp/a1.test/job.json")
	cp("ocsp-a1.test-ocsp-a202d7ef1a68880427ca3c9159fab60e4ed19ba2.json", installed+"/ocsp/a1.test/ocsp-a202d7ef1a68880427ca3c9159fab60e4ed19ba2.json")
	cp("archive-a1.test.1-md.json", staged+"/domains/a1.test/md.json")
	cp("staging-a1.test-md.json", staged+"/staging/a1.test/md.json")
	cp("staging-a1.test-job.json", staged+"/staging/a1.test/job.json")
	cp("domains-a1.test-pubcert.pem", staged+"/staging/a1.test/pubcert.pem")

	sample := func(file string) string {
		b, err := os.ReadFile(filepath.Join(S, file))
		must(t, err)
		return string(b)
	}
	// The a1.test entry of a list document, as text.
	entry := func(doc string) string {
		i := strings.Index(doc, "\n    {")
		j := strings.Index(doc, "\n    }")
		return doc[i+1 : j+6]
	}
	render := func(dir string, now string, view View, names []string) string {
		st, err := store.OpenReadOnly(dir)
		must(t, err)
		at, err := time.Parse(http.TimeFormat, now)
		must(t, err)
		var buf bytes.Buffer
		must(t, (&Reader{Store: st, Now: func() time.Time { return at }}).Render(t.Context(), &buf, view, names, DefaultOptions()))
		return buf.String()
	}
	if got, want := entry(render(installed, "Sat, 28 Nov 2026 14:43:36 GMT", ViewJSON, nil)), entry(sample("md-status.json")); got != want {
		t.Errorf("installed a1.test:\n%s\nwant (mod_md):\n%s", got, want)
	}
	// Staged: mod_md's renew-at is "now" for an incomplete MD.
	if got, want := entry(render(staged, "Sat, 28 Nov 2026 14:43:33 GMT", ViewJSON, nil)), entry(sample("md-status-staged.json")); got != want {
		t.Errorf("staged a1.test:\n%s\nwant (mod_md):\n%s", got, want)
	}
	for _, tc := range []struct{ dir, sample string }{
		{installed, "certificate-status-a1.test.json"},
		{staged, "certificate-status-a1.test-staged.json"},
	} {
		got := render(tc.dir, "Sat, 28 Nov 2026 14:43:36 GMT", ViewCertStatus, []string{"a1.test"})
		if want := sample(tc.sample); strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s:\n%s\nwant (mod_md):\n%s", tc.sample, got, want)
		}
	}
}
