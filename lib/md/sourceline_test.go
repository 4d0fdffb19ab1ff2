package md

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestCutSources: a line cut around its sources and put together with
// other sources is the encoding of the record with those sources.
func TestCutSources(t *testing.T) {
	vhosts := func(srcs ...*Source) []Vhost {
		var out []Vhost
		for i, s := range srcs {
			out = append(out, Vhost{ServerName: "v" + string(rune('0'+i)) + ".test", SSL: true, Source: s})
		}
		return out
	}
	at := func(file string, line int) *Source { return &Source{File: file, Line: line} }
	for _, tc := range []struct {
		name       string
		from, to   *Source
		vfrom, vto []Vhost
		ok         bool
	}{
		{"line moved", at("/etc/mdtools/md.toml", 9), at("/etc/mdtools/md.toml", 11), nil, nil, true},
		{"file renamed", at("md.toml", 9), at("/etc/md.toml", 9), nil, nil, true},
		{"no line", at("a.conf", 0), at("a.conf", 3), nil, nil, true},
		{"line dropped", at("a.conf", 3), at("a.conf", 0), nil, nil, true},
		{"escapes", at("we\"ird\\ \u2028 <&> \x01 é", 1), at("x\xffy", 2), nil, nil, true},
		{"vhosts moved", at("a.conf", 3), at("a.conf", 5),
			vhosts(at("a.conf", 10), at("b.conf", 1)), vhosts(at("a.conf", 12), at("b.conf", 1)), true},
		{"vhosts without sources", at("a.conf", 3), at("a.conf", 5), vhosts(nil, at("b.conf", 1)), vhosts(nil, at("b.conf", 7)), true},
		{"only vhosts", nil, nil, vhosts(at("a.conf", 10)), vhosts(at("a.conf", 11)), true},
		{"same source twice", at("a.conf", 3), at("a.conf", 4), vhosts(at("a.conf", 3)), vhosts(at("a.conf", 9)), true},
		{"no source", nil, nil, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Record{MD: MD{Name: "a.test", Domains: []string{"a.test"}}, Source: tc.from, Store: "/var/lib/mdtools", Vhosts: tc.vfrom}
			line, err := r.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			from := r.Sources()
			sl, ok := CutSources(line, from)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if len(sl.Cuts) != len(from) || bytes.Contains(sl.Line, sourceKey) {
				t.Errorf("cut %d of %d sources: %s", len(sl.Cuts), len(from), sl.Line)
			}
			if got := sl.Append(nil, from); !bytes.Equal(got, line) {
				t.Errorf("put together again:\n%s\nwant\n%s", got, line)
			}
			r.Source, r.Vhosts = tc.to, tc.vto
			want, _ := r.MarshalJSON()
			if got := sl.Append([]byte("x"), r.Sources()); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("with the new sources:\n%s\nwant\n%s", got[1:], want)
			}
		})
	}
}

// TestCutSourcesRefused: a line with a "source" object the sources do
// not account for, or without theirs, is not cut; an uncut line is
// appended as it is.
func TestCutSourcesRefused(t *testing.T) {
	src := &Source{File: "md.toml", Line: 9}
	member := AppendSource(nil, src)
	for _, line := range []string{
		`{"name":"a.test"` + string(member) + `,"x":{"y":1` + string(member) + `}}`,
		`{"name":"a.test"` + string(member) + `,"x":{"source":{"file":"other"}}}`,
		`{"name":"a.test","source":{"file":"md.toml","line":8}}`,
		`{"source":{"file":"md.toml","line":9}}`,
	} {
		if sl, ok := CutSources([]byte(line), []*Source{src}); ok {
			t.Errorf("%s: cut to %+v", line, sl)
		}
	}
	if sl := (SourceLine{Line: []byte("{}")}); string(sl.Append(nil, []*Source{src})) != "{}" {
		t.Error("an uncut line is not appended as it is")
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

// TestReadJSON: ReadJSON hands over what MarshalJSON returns, unknown
// fields too.
func TestReadJSON(t *testing.T) {
	for _, r := range []Record{
		{MD: MD{Name: "a.test", Domains: []string{"a.test"}}, Source: &Source{File: "md.toml", Line: 3}},
		{MD: MD{Name: "b.test", Domains: []string{"b.test"}, Extra: map[string]json.RawMessage{"x-new": json.RawMessage(`{"a": 1}`)}}},
	} {
		want, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := r.ReadJSON(func(b []byte) { got = bytes.Clone(b) }); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadJSON: %s %v\nwant %s", got, err, want)
		}
	}
}
