package status

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzIndentJSON: for any valid JSON, indentJSON writes what json.Indent
// writes.
func FuzzIndentJSON(f *testing.F) {
	for _, g := range []string{"samples", "golden"} {
		files, _ := filepath.Glob(filepath.Join(fixtures, g, "*.json"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{`{}`, `[]`, `{"a":[],"b":{},"c":[{}],"d":"x\"y\\","e":-1.5e3,"f":[true,false,null]}`, ` [ 1 , 2 ] `, `"a"`, `1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		data = bytes.TrimRight(data, " \t\r\n") // json.Indent keeps trailing space; the views have none
		var want bytes.Buffer
		werr := json.Indent(&want, data, "    ", "  ")
		got, gerr := indentJSON([]byte("x"), data, "    ", "  ")
		if (gerr == nil) != (werr == nil) || !bytes.Equal(got[1:], want.Bytes()) || got[0] != 'x' {
			t.Fatalf("%q: indented %q, %v; json.Indent %q, %v", data, got, gerr, want.Bytes(), werr)
		}
	})
}
