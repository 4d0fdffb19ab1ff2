package cli

import (
	"bytes"
	"testing"
)

// FuzzReadRecords: stdin is untrusted; any input gives records or a
// UsageError naming a line, never a panic.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(`{"name":"a.org","domains":["a.org"]}` + "\n"))
	f.Add([]byte("{}\n\n[]\n"))
	f.Add([]byte(`{"name":"a.org","domains":["a.org"],"ca":{"urls":[1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadRecords(bytes.NewReader(data), "stdin", true)
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Fatalf("input error with exit code %d: %v", ExitCode(err), err)
			}
			return
		}
		for _, r := range recs {
			if r.Validate() != nil {
				t.Fatal("invalid record accepted")
			}
		}
	})
}
