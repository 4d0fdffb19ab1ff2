package md

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecord checks that any input either fails to decode or round-trips:
// decode -> encode -> decode gives the same encoding, and never panics.
func FuzzRecord(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/md/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"name":"a.org","domains":["a.org"],"privkey":[{"type":"EC","curve":"P-256"}],"x":{"y":1}}`))
	f.Add([]byte(`{"renew-window":"33%","warn-window":"14d","order":{"action":"none","at":"Sat, 28 Nov 2026 14:43:33 GMT"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		out1, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		var r2 Record
		if err := json.Unmarshal(out1, &r2); err != nil {
			t.Fatalf("own output does not decode: %v\n%s", err, out1)
		}
		out2, _ := json.Marshal(r2)
		if string(out1) != string(out2) {
			t.Fatalf("not stable:\n%s\n%s", out1, out2)
		}
	})
}
