package md

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGoldenRoundTrip decodes md.json and job.json files written by Apache's
// mod_md and checks that re-encoding gives the same bytes.
func TestGoldenRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../../testdata/md/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("golden files missing: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v any = &MD{}
			if strings.HasSuffix(f, "-job.json") {
				v = &Job{}
			}
			if err := json.Unmarshal(want, v); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			got, err := StoreJSON(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("round trip differs:\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestRecordKeepsUnknownFieldsAndSections(t *testing.T) {
	in := `{"name":"a.org","domains":["a.org"],"contacts":[],"transitive":1,"state":1,"renew-mode":1,` +
		`"must-staple":false,"proto":{"acme-tls/1":[]},"stapling":false,"profile-mandatory":false,"ari-renewals":true,` +
		`"source":{"file":"/etc/x.conf","line":3},"store":"/etc/apache2/md","future-field":{"x":[1,2]},"zz":"last"}`
	var r Record
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if r.Source == nil || r.Source.Line != 3 {
		t.Errorf("source = %+v; want line 3", r.Source)
	}
	if r.Store != "/etc/apache2/md" {
		t.Errorf("store = %q; want the one md-parse chose", r.Store)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("got  %s\nwant %s", out, in)
	}
}

func TestRecordFieldErrors(t *testing.T) {
	tests := []struct {
		name, in, field string
	}{
		{"wrong type", `{"name": 5}`, "name"},
		{"nested wrong type", `{"ca": {"urls": "x"}}`, "ca.urls"},
		{"bad window", `{"renew-window": "1y"}`, "renew-window"},
		{"window too large", `{"warn-window": "100%"}`, "warn-window"},
		{"bad date", `{"order": {"action":"x","at":"yesterday"}}`, "order"},
		{"privkey", `{"privkey": 3}`, "privkey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			err := json.Unmarshal([]byte(tc.in), &r)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v; want a FieldError", err)
			}
			if !strings.HasPrefix(fe.Field, tc.field) {
				t.Errorf("field = %q; want %q (err %v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestRedactedHidesEABHMAC(t *testing.T) {
	r := Record{MD: MD{Name: "a.org", EAB: &EAB{KID: "kid-1", HMAC: "c2VjcmV0"}}}
	out, _ := json.Marshal(r.Redacted())
	if bytes.Contains(out, []byte("c2VjcmV0")) || !bytes.Contains(out, []byte(`"hmac":"***"`)) {
		t.Errorf("redacted output leaks or lacks mask: %s", out)
	}
	if r.EAB.HMAC != "c2VjcmV0" {
		t.Errorf("Redacted modified the original")
	}
}

func TestTimeslice(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"33%", "33%", false}, {"14d", "14d", false}, {"14", "14d", false}, {"12h", "12h", false},
		{"30mi", "30mi", false}, {"90s", "90s", false}, {"500ms", "500ms", false}, {"48h", "2d", false},
		{"100%", "", true}, {"1y", "", true}, {"dec-31", "", true}, {"", "", true}, {"-1%", "", true},
	}
	for _, tc := range tests {
		ts, err := ParseTimeslice(tc.in, Day)
		if (err != nil) != tc.err {
			t.Errorf("ParseTimeslice(%q) err = %v; want err %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && ts.String() != tc.want {
			t.Errorf("ParseTimeslice(%q) = %q; want %q", tc.in, ts.String(), tc.want)
		}
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.Add(90 * Day)
	if got, want := MustTimeslice("33%").Start(from, until), until.Add(-time.Duration(90*86400*33/100)*time.Second); !got.Equal(want) {
		t.Errorf("33%% start = %v; want %v", got, want)
	}
	if got := MustTimeslice("14d").Start(from, until); !got.Equal(until.Add(-14 * Day)) {
		t.Errorf("14d start = %v", got)
	}
}

func TestValidateDomain(t *testing.T) {
	good := []string{"a.org", "www.A.org", "*.a.org", "xn--bcher-kva.example", "a-b.c.d."}
	bad := []string{"", "org", "*.org", "a..org", "../etc", "a/b.org", "a.org/..", "-a.org", "b\x00.org",
		"bücher.example", "*a.org", "a.*.org", "a.org ", strings.Repeat("a", 64) + ".org"}
	for _, s := range good {
		if err := ValidateDomain(s); err != nil {
			t.Errorf("ValidateDomain(%q) = %v; want ok", s, err)
		}
	}
	for _, s := range bad {
		if err := ValidateDomain(s); err == nil {
			t.Errorf("ValidateDomain(%q) = ok; want error", s)
		}
	}
}

func TestMinimalDomainsAndMatches(t *testing.T) {
	got := MinimalDomains([]string{"x.org", "*.x.org", "www.x.org", "a.b.x.org"})
	if strings.Join(got, " ") != "x.org *.x.org a.b.x.org" {
		t.Errorf("MinimalDomains = %v", got)
	}
	if DomainMatches("*.x.org", "x.org") || !DomainMatches("*.x.org", "A.x.org") {
		t.Error("DomainMatches wildcard semantics wrong")
	}
}

func TestKeySpecs(t *testing.T) {
	var ks KeySpecs
	if err := json.Unmarshal([]byte(`[{"type":"EC","curve":"secp384r1"},{"type":"RSA","bits":4096}]`), &ks); err != nil {
		t.Fatal(err)
	}
	if ks[0].FileName("privkey") != "privkey.secp384r1.pem" || ks[1].FileName("pubcert") != "pubcert.pem" {
		t.Errorf("file names: %q %q", ks[0].FileName("privkey"), ks[1].FileName("pubcert"))
	}
	if ks[0].Name() != "secp384r1" || ks[1].Name() != "rsa" {
		t.Errorf("names: %q %q", ks[0].Name(), ks[1].Name())
	}
	one, _ := json.Marshal(KeySpecs{{Type: "EC", Curve: "P-256"}})
	if string(one) != `{"type":"EC","curve":"P-256"}` {
		t.Errorf("single spec encodes as %s", one)
	}
	if (KeySpec{Type: KeyEC, Curve: "P-256"}).FileName("privkey") != "privkey.p-256.pem" {
		t.Error("EC file name not lower-cased")
	}
}

func TestJobLogCap(t *testing.T) {
	var j Job
	now := time.Now()
	for i := 0; i < 200; i++ {
		j.AddLog(now.Add(time.Duration(i)*time.Second), "progress", "", "step")
	}
	if len(j.Log.Entries) != MaxJobLogEntries {
		t.Fatalf("entries = %d", len(j.Log.Entries))
	}
	if !j.Log.Entries[0].When.After(j.Log.Entries[1].When.Time) {
		t.Error("log not newest first")
	}
}

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		spec KeySpec
		ok   bool
	}{
		{KeySpec{Type: KeyRSA}, true},
		{KeySpec{Type: KeyDefault}, true},
		{KeySpec{Type: KeyEC, Curve: "secp384r1"}, true},
		{KeySpec{Type: KeyEC, Curve: "P-256"}, true},
		{KeySpec{Type: KeyEC, Curve: "X25519"}, false},
		{KeySpec{Type: KeyRSA, Bits: 1024}, false},
		{KeySpec{Type: "DSA"}, false},
	}
	for _, tc := range tests {
		k, err := GenerateKey(tc.spec)
		if (err == nil) != tc.ok || (err == nil && k == nil) {
			t.Errorf("GenerateKey(%+v) = %v, %v; want ok %v", tc.spec, k, err, tc.ok)
		}
	}
}
