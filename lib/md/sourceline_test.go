package md

import (
	"bytes"
	"testing"
)

// TestCutSource: a line cut around its source and put together with
// another source is the encoding of the record with that source.
func TestCutSource(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to *Source
		ok       bool
	}{
		{"line moved", &Source{File: "/etc/mdtools/md.toml", Line: 9}, &Source{File: "/etc/mdtools/md.toml", Line: 11}, true},
		{"file renamed", &Source{File: "md.toml", Line: 9}, &Source{File: "/etc/md.toml", Line: 9}, true},
		{"no line", &Source{File: "a.conf"}, &Source{File: "a.conf", Line: 3}, true},
		{"line dropped", &Source{File: "a.conf", Line: 3}, &Source{File: "a.conf"}, true},
		{"escapes", &Source{File: "we\"ird\\ \u2028 <&> \x01 é", Line: 1}, &Source{File: "x\xffy", Line: 2}, true},
		{"source gone", &Source{File: "a.conf", Line: 3}, nil, true},
		{"no source", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Record{MD: MD{Name: "a.test", Domains: []string{"a.test"}}, Source: tc.from, Store: "/var/lib/mdtools"}
			line, err := r.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			sl, ok := CutSource(line, tc.from)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if got := sl.Append(nil, tc.from); !bytes.Equal(got, line) {
				t.Errorf("put together again:\n%s\nwant\n%s", got, line)
			}
			r.Source = tc.to
			want, _ := r.MarshalJSON()
			if got := sl.Append([]byte("x"), tc.to); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("with the new source:\n%s\nwant\n%s", got[1:], want)
			}
		})
	}
}

// TestCutSourceAmbiguous: a line with the member twice is not cut (the
// second could be anywhere, e.g. inside an unknown field).
func TestCutSourceAmbiguous(t *testing.T) {
	src := &Source{File: "md.toml", Line: 9}
	member := AppendSource(nil, src)
	line := []byte(`{"name":"a.test"` + string(member) + `,"x":{"y":1` + string(member) + `}}`)
	if _, ok := CutSource(line, src); ok {
		t.Error("cut a line that has the member twice")
	}
	if sl := (SourceLine{Head: line}); !bytes.Equal(sl.Append(nil, &Source{File: "other"}), line) {
		t.Error("an unsplit line is not appended as it is")
	}
}

// FuzzAppendSource: the member is what encoding/json makes of a Source.
func FuzzAppendSource(f *testing.F) {
	for _, s := range []string{"md.toml", "/etc/apache2/sites-enabled/a b.conf", "\"\\", "\x00\x1f\x7f", "é\u2028\u2029", "\xff\xfe", "<&>"} {
		f.Add(s, 9)
	}
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, file string, line int) {
		src := &Source{File: file, Line: line}
		enc, err := MarshalNoEscape(src)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte(`,"source":`), enc...)
		if got := AppendSource(nil, src); !bytes.Equal(got, want) {
			t.Errorf("%q %d: %s, want %s", file, line, got, want)
		}
	})
}
