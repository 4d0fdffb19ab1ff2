package status

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseObjectKeepsOrder(t *testing.T) {
	tests := []struct {
		in   string
		keys []string
		err  bool
	}{
		{`{}`, nil, false},
		{` { "b" : 1 , "a" : [1, {"x": "}"}], "c": "q\"}", "d": true, "e": null, "f": -1.5e3 } `, []string{"b", "a", "c", "d", "e", "f"}, false},
		{`{"z": {"y": {}}, "a": []}`, []string{"z", "a"}, false},
		{`{"k\"ey": 0}`, []string{`k"ey`}, false},
		{`[1]`, nil, true},
		{`{"a": tru}`, nil, true},
		{`{"a": 1}x`, nil, true},
		{``, nil, true},
	}
	for _, tc := range tests {
		o, err := ParseObject([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("ParseObject(%q): error %v; want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if strings.Join(o.Keys(), ",") != strings.Join(tc.keys, ",") {
			t.Errorf("ParseObject(%q) keys %q; want %q", tc.in, o.Keys(), tc.keys)
		}
		b, err := o.MarshalJSON()
		if err != nil || !json.Valid(b) {
			t.Errorf("ParseObject(%q) re-encodes to %s (%v)", tc.in, b, err)
		}
		var a, c any
		_ = json.Unmarshal([]byte(tc.in), &a)
		_ = json.Unmarshal(b, &c)
		if ab, _ := json.Marshal(a); string(ab) != mustJSON(c) {
			t.Errorf("ParseObject(%q) changed the value: %s", tc.in, b)
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// FuzzParseObject: any input either fails or round-trips to the same value
// with the same top-level keys in the same order.
func FuzzParseObject(f *testing.F) {
	for _, g := range []string{"samples", "golden"} {
		files, _ := filepath.Glob(filepath.Join(fixtures, g, "*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"a": "}", "b": [{"c": "\\\""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseObject(data)
		if err != nil {
			return
		}
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encoding %q: %v", data, err)
		}
		var a, c any
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatalf("ParseObject accepted invalid JSON %q", data)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("re-encoded %q is invalid: %q", data, b)
		}
		if mustJSON(a) != mustJSON(c) {
			t.Fatalf("value changed: %q -> %q", data, b)
		}
		o2, err := ParseObject(b)
		if err != nil || strings.Join(o2.Keys(), "\x00") != strings.Join(o.Keys(), "\x00") {
			t.Fatalf("keys changed: %q -> %q", data, b)
		}
	})
}

func TestQuickJobStopsAtTheLog(t *testing.T) {
	tests := []struct {
		in       string
		finished bool
		lastRun  string
		err      bool
	}{
		{`{"name": "a.test", "finished": true, "last-run": "Sat, 28 Nov 2026 14:43:32 GMT", "last": {"status": 0}, "log": {"entries": [broken`, true, "2026-11-28T14:43:32Z", false},
		{`{"finished": false, "errors": 3}`, false, "", false},
		{`{"finished": "yes"}`, false, "", true},
		{`[]`, false, "", true},
	}
	for _, tc := range tests {
		j, err := quickJob([]byte(tc.in))
		if (err != nil) != tc.err {
			t.Errorf("quickJob(%q): %v; want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		got := ""
		if !j.LastRun.IsZero() {
			got = j.LastRun.Format("2006-01-02T15:04:05Z")
		}
		if j.Finished != tc.finished || got != tc.lastRun {
			t.Errorf("quickJob(%q) = finished %v, last-run %q; want %v, %q", tc.in, j.Finished, got, tc.finished, tc.lastRun)
		}
	}
}

// TestObjectManyKeys: an object keeps order, replaces in place and
// deletes the same below and above indexFrom keys.
func TestObjectManyKeys(t *testing.T) {
	for _, n := range []int{3, indexFrom - 1, indexFrom, 3 * indexFrom} {
		o := NewObject()
		var want []string
		for i := range n {
			k := fmt.Sprintf("k%d", i)
			o.Set(k, i)
			want = append(want, k)
		}
		o.Set("k1", "again") // in place
		o.Del("k0")
		o.Del("absent")
		want = want[1:]
		o.Set("k0", 0) // at the end now
		want = append(want, "k0")
		if strings.Join(o.Keys(), ",") != strings.Join(want, ",") {
			t.Fatalf("%d keys: %v, want %v", n, o.Keys(), want)
		}
		if v, ok := o.Get("k1"); !ok || v != "again" || o.Has("absent") || o.Len() != n {
			t.Fatalf("%d keys: k1 %v %v, has absent %v, len %d", n, v, ok, o.Has("absent"), o.Len())
		}
		for i, k := range want {
			if v, _ := o.Get(k); k != "k1" && k != "k0" && v != i+1 {
				t.Fatalf("%d keys: %s = %v, want %d", n, k, v, i+1)
			}
		}
		b, err := o.MarshalJSON()
		if err != nil || !strings.HasSuffix(string(b), `"k0":0}`) || !strings.HasPrefix(string(b), `{"k1":"again"`) {
			t.Fatalf("%d keys: %s, %v", n, b, err)
		}
	}
}
