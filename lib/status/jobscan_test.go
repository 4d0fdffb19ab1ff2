package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// jobSeeds are job.json files as mdtools and mod_md write them, and odd
// ones.
func jobSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "samples", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"name":"a.test","finished":true,"notified":true,"notified-renewed":true,"next-run":"Mon, 07 Dec 2026 14:19:24 GMT",
		  "last-run":"Sun, 06 Dec 2026 22:14:58 GMT","valid-from":"Sun, 06 Dec 2026 22:14:58 GMT","errors":0,
		  "last":{"status":0,"detail":"certificate status is GOOD","activity":"status of certid 28"},
		  "log":{"entries":[{"when":"Sun, 06 Dec 2026 22:14:58 GMT","type":"finished","node":"vm"}]},
		  "certs":{"28":{"errors":2,"next-run":"Mon, 07 Dec 2026 14:19:24 GMT"}}}`,
		`{"log":null,"certs":null}`, `{"Name":"a","NAME":"b","last":{"status":1},"last":{"detail":"x"}}`,
		`{"log":{},"log":{}}`, `{"Log":{}}`, `{"Log":{"entries":[{"type":"finished"}]}}`, `{"log":{"entries":[{"type":"x"}]},"LOG":{}}`, `{"certs":1,"CERTS":2}`, `{"errors":"x"}`, `{"finished":tru`,
		`{"last-run":"yesterday"}`, `{"n\u0061me":"a"}`, `null`, ` {} `, `{"log":{"entries":[{"when":5}]}}`,
		`{"name":"a","log":{"entries":[broken`, `{"name":"a"} x`, `{"errors":1e2}`, `{"errors":1.5}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeJob: decodeJob gives what decodeJobRef gives, job and error.
func FuzzDecodeJob(f *testing.F) {
	jobSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, how := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			got, gerr := decodeJob(data, how[0], how[1])
			want, werr := decodeJobRef(data, how[0], how[1])
			if !sameJob(got, gerr, want, werr) {
				t.Fatalf("%q (log %v, raw %v): scanned %+v, %v; decoded %+v, %v", data, how[0], how[1], got, gerr, want, werr)
			}
			if _, ok := scanJob(data, how[0], how[1]); ok && !json.Valid(data) {
				t.Fatalf("%q: scanned, but it is no JSON", data)
			}
		}
	})
}

// FuzzQuickJob: quickJob gives what quickJobRef gives, job and error.
func FuzzQuickJob(f *testing.F) {
	jobSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := quickJob(data)
		want, werr := quickJobRef(data)
		if !sameJob(got, gerr, want, werr) {
			t.Fatalf("%q: scanned %+v, %v; decoded %+v, %v", data, got, gerr, want, werr)
		}
	})
}

func sameJob(a *Job, aerr error, b *Job, berr error) bool {
	if (aerr == nil) != (berr == nil) || aerr != nil && aerr.Error() != berr.Error() {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// TestScanJobDecides: the scanner answers for the job files mod_md and
// mdtools write (the reference is only for odd files).
func TestScanJobDecides(t *testing.T) {
	var files [][]byte
	for _, f := range []string{"domains-a1.test-job.json", "ocsp-a1.test-job.json", "staging-a1.test-job.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, "samples", f))
		must(t, err)
		files = append(files, b)
	}
	j := job("a.test", time.Now(), true, 0, &md.JobResult{Detail: "done"}, [2]string{"finished", ""}, [2]string{"progress", installPrefix + "live"})
	j.Log.Entries[0].Node = "web1"
	b, err := md.StoreJSON(j)
	must(t, err)
	files = append(files, b)
	for _, b := range files {
		for _, how := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			if _, ok := scanJob(b, how[0], how[1]); !ok {
				t.Errorf("scanJob(log %v, raw %v) leaves %s to the reference", how[0], how[1], b)
			}
		}
		if _, ok := scanQuickJob(b); !ok {
			t.Errorf("scanQuickJob leaves %s to the reference", b)
		}
		if _, ok := scanNodes(b); !ok {
			t.Errorf("scanNodes leaves %s to the reference", b)
		}
	}
	b, err = os.ReadFile(filepath.Join(fixtures, "samples", "ocsp-a1.test-ocsp-a202d7ef1a68880427ca3c9159fab60e4ed19ba2.json"))
	must(t, err)
	if f, ok := scanOCSP(b); !ok || !f.response || f.status != "good" {
		t.Errorf("scanOCSP: %+v, %v for %s", f, ok, b)
	}
}

// FuzzScanLog: a log the scanner decodes is what encoding/json decodes.
func FuzzScanLog(f *testing.F) {
	for _, s := range []string{
		`{"entries":[{"when":"Sun, 06 Dec 2026 22:14:58 GMT","type":"finished","status":"x","detail":"d","node":"vm"},{"type":"starting"}]}`,
		`{"entries":[]}`, `{}`, `{"entries":null}`, `{"entries":[null]}`, `{"Entries":[]}`, `{"entries":[{"When":""}]}`,
		`{"entries":[{"when":null,"type":"a","type":"b"}]}`, `{"entries":[{"when":"2026-12-06T22:14:58Z"}]}`,
		`{"entries":[{"when":"yesterday"}]}`, `{"entries":[{"when":5}]}`, `{"entries":[{"detail":"\u00e9"}]}`, `{"x":[1,{}],"entries":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := scanLog(data)
		if !ok {
			return
		}
		var want md.JobLog
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%q: scanned %+v, but encoding/json fails: %v", data, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanned %+v, decoded %+v", data, got, want)
		}
	})
}

// FuzzScanOCSP: an ocsp-<id>.json the scanner reads is what encoding/json
// reads.
func FuzzScanOCSP(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(fixtures, "samples", "ocsp-a1.test-ocsp-a202d7ef1a68880427ca3c9159fab60e4ed19ba2.json")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		`{"response":"MIIB","status":"good","valid":{"from":"Sun, 06 Dec 2026 22:13:55 GMT","until":"Mon, 07 Dec 2026 22:14:55 GMT"}}`,
		`{"response":"","status":"revoked"}`, `{"response":null}`, `{"Response":"x"}`, `{"response":"\u0000"}`, `{"status":"g\u006fod"}`,
		`{"valid":{"from":"x"}}`, `{"valid":{"from":"Sun, 06 Dec 2026 22:13:55 GMT"},"valid":{"until":"Mon, 07 Dec 2026 22:14:55 GMT"}}`,
		`{"response":"a","response":""}`, `{"valid":null}`, `{"valid":[]}`, `[]`, `{"response":"a"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := scanOCSP(data)
		if !ok {
			return
		}
		want, wok := decodeOCSP(data)
		if !wok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanned %+v, decoded %+v (%v)", data, got, want, wok)
		}
	})
}
