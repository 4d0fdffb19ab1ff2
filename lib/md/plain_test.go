package md

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// record is a record as the last stage of a cycle writes it (every
// section filled), the line a stage reads most often.
const plainRecord = `{"name":"d1.bench.test","domains":["d1.bench.test"],"contacts":["mailto:bench@bench.test"],"transitive":1,` +
	`"ca":{"proto":"ACME","url":"http://127.0.0.1:53279/dir","urls":["http://127.0.0.1:53279/dir"],"agreement":"accepted"},` +
	`"privkey":{"type":"EC","curve":"secp256r1"},"state":2,"renew-mode":1,"renew-window":"33%","warn-window":"10%",` +
	`"must-staple":false,"proto":{"acme-tls/1":[]},"stapling":true,"profile-mandatory":false,"ari-renewals":true,` +
	`"source":{"file":"/etc/md.toml","line":9},"store":"/var/lib/mdtools","settings":{"store-dir":"/var/lib/mdtools",` +
	`"reachable":{"http":false,"https":false}},"host":{"deploy":{"dir":"/srv/deploy/d1.bench.test"}},` +
	`"order":{"action":"none","reason":"not due before Thu, 04 Feb 2027 22:59:18 GMT","at":"Sun, 06 Dec 2026 16:12:30 GMT",` +
	`"renew-at":"Thu, 04 Feb 2027 22:59:18 GMT"},"install":{"action":"none","deploy":"/srv/deploy/d1.bench.test",` +
	`"certs":[{"spec":"secp256r1","serial":"03E9","sha256-fingerprint":"b94d16b0098b5f2d2c822bfd7e493c48309f519c60e7d9e1d2e19cbd930bda3e",` +
	`"valid":{"from":"Sun, 06 Dec 2026 15:07:06 GMT","until":"Sat, 06 Mar 2027 16:07:06 GMT"}}]},` +
	`"staple":{"at":"Sun, 06 Dec 2026 16:12:37 GMT","responses":[{"spec":"secp256r1","id":"53864d716bda65a0b6aa8a3cdf699e51ce38a55a",` +
	`"status":"good","valid":{"from":"Sun, 06 Dec 2026 16:06:53 GMT","until":"Mon, 07 Dec 2026 16:07:53 GMT"},` +
	`"renew-at":"Mon, 07 Dec 2026 08:12:22 GMT","source":"ocsp","action":"kept","file":"/srv/deploy/d1.bench.test/combined.secp256r1.pem.ocsp"}]}}`

// bothWays decodes b with the fast path allowed and with decodeObject
// only, into a fresh T each time.
func bothWays[T any](t *testing.T, b []byte) (fast, slow *T, fastErr, slowErr error) {
	t.Helper()
	fast, slow = new(T), new(T)
	fastErr = json.Unmarshal(b, fast)
	slowOnly = true
	defer func() { slowOnly = false }()
	slowErr = json.Unmarshal(b, slow)
	return
}

// TestPlainDecodeSameAsSlow: the one-pass decoding of records and job
// logs (decodePlain) gives exactly what the field-by-field decoding
// gives, on the common lines it takes and on every line it must hand on:
// unknown fields (top-level and nested), other letter cases, duplicate and
// escaped keys, nulls, wrong types, broken JSON.
func TestPlainDecodeSameAsSlow(t *testing.T) {
	rec := func(edit func(string) string) string { return edit(plainRecord) }
	records := []struct {
		name string
		line string
		fast bool // whether the fast path is expected to take it
	}{
		{"full record", plainRecord, true},
		{"md-parse record", `{"name":"a.test","domains":["a.test","www.a.test"],"renew-mode":1,"source":{"file":"x.conf","line":3}}`, true},
		{"spaces around", "  \t" + plainRecord + "\n ", true},
		{"nulls", `{"name":"a.test","domains":["a.test"],"order":null,"ca":null,"privkey":null,"renew-window":null}`, true},
		{"unknown top-level field", rec(func(s string) string {
			return strings.Replace(s, `"stapling":true`, `"stapling":true,"x-later":{"a":[1,2]}`, 1)
		}), false},
		{"unknown nested field", rec(func(s string) string { return strings.Replace(s, `"action":"none"`, `"action":"none","x-new":1`, 1) }), false},
		{"unknown field in the md part", `{"name":"a.test","domains":["a.test"],"MDFutureThing":"x"}`, false},
		{"other letter case", `{"Name":"a.test","domains":["a.test"]}`, false},
		{"other letter case nested", `{"name":"a.test","domains":["a.test"],"order":{"Action":"none"}}`, true},
		{"duplicate key", `{"name":"a.test","domains":["a.test"],"order":{"action":"none"},"order":{"reason":"x"}}`, false},
		{"escaped key", `{"n\u0061me":"a.test","domains":["a.test"]}`, false},
		{"escaped value", `{"name":"a\u002etest","domains":["a.test"],"order":{"action":"n\"one"}}`, true},
		{"wrong type", `{"name":"a.test","domains":"a.test"}`, false},
		{"wrong nested type", `{"name":"a.test","domains":["a.test"],"order":{"action":1}}`, false},
		{"bad time", `{"name":"a.test","domains":["a.test"],"order":{"at":"yesterday"}}`, false},
		{"not an object", `["a.test"]`, false},
		{"trailing garbage", plainRecord + `{}`, false},
		{"truncated", plainRecord[:200], false},
		{"empty object", `{}`, true},
	}
	for _, tc := range records {
		t.Run("record/"+tc.name, func(t *testing.T) {
			fast, slow, fe, se := bothWays[Record](t, []byte(tc.line))
			if (fe == nil) != (se == nil) || (fe != nil && fe.Error() != se.Error()) {
				t.Fatalf("errors differ: fast %v, slow %v", fe, se)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("records differ:\nfast %#v\nslow %#v", fast, slow)
			}
			dr, de := DecodeRecord([]byte(tc.line))
			if (de == nil) != (se == nil) || (de != nil && de.Error() != se.Error()) {
				t.Fatalf("DecodeRecord error %v, slow %v", de, se)
			}
			if de == nil && !reflect.DeepEqual(dr, slow) {
				t.Fatalf("DecodeRecord differs:\nfast %#v\nslow %#v", dr, slow)
			}
			var f recordFields
			if got := decodePlain([]byte(tc.line), &f); got != tc.fast {
				t.Errorf("fast path taken: %v, want %v", got, tc.fast)
			}
			if !tc.fast && !reflect.DeepEqual(f, recordFields{}) {
				t.Errorf("refused fast path left %#v", f)
			}
		})
	}
	jobs, _ := filepath.Glob("../../testdata/md/*job.json")
	if len(jobs) == 0 {
		t.Fatal("no job.json files in testdata/md")
	}
	for _, p := range jobs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		variants := map[string]string{
			"as stored":     string(b),
			"unknown field": strings.Replace(string(b), `"name"`, `"x-new": true, "name"`, 1),
			"letter case":   strings.Replace(string(b), `"name"`, `"NAME"`, 1),
		}
		for v, text := range variants {
			t.Run("job/"+filepath.Base(p)+"/"+v, func(t *testing.T) {
				fast, slow, fe, se := bothWays[Job](t, []byte(text))
				if (fe == nil) != (se == nil) || (fe != nil && fe.Error() != se.Error()) {
					t.Fatalf("errors differ: fast %v, slow %v", fe, se)
				}
				if !reflect.DeepEqual(fast, slow) {
					t.Fatalf("jobs differ:\nfast %#v\nslow %#v", fast, slow)
				}
			})
		}
	}
}

// BenchmarkDecodeRecord: one record line as a stage reads it (cli.ReadRecords).
func BenchmarkDecodeRecord(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := DecodeRecord([]byte(plainRecord)); err != nil {
			b.Fatal(err)
		}
	}
}
