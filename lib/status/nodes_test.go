package status

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJobNodes(t *testing.T) {
	for _, tc := range []struct {
		name, job string
		want      Nodes
		str       string
	}{
		{"both", `{"log":{"entries":[
			{"when":"x","type":"progress","detail":"md-install: activated","node":"web2"},
			{"when":"x","type":"finished","node":"web1"},
			{"when":"x","type":"progress","detail":"md-install: older","node":"web9"}]}}`,
			Nodes{Ordered: "web1", Installed: "web2"}, "ordered web1, installed web2"},
		{"one node", `{"log":{"entries":[{"type":"progress","detail":"md-install: a","node":"w"},{"type":"finished","node":"w"}]}}`,
			Nodes{Ordered: "w", Installed: "w"}, "w"},
		{"newest names none (mod_md's entry)", `{"log":{"entries":[{"type":"finished"},{"type":"finished","node":"old"}]}}`,
			Nodes{}, ""},
		{"ordered only", `{"log":{"entries":[{"type":"finished","node":"web1"}]}}`, Nodes{Ordered: "web1"}, "ordered web1"},
		{"not JSON", `{`, Nodes{}, ""},
		{"a node name with a terminal escape", `{"log":{"entries":[{"type":"finished","node":"\u001b[31mx"}]}}`, Nodes{}, ""},
	} {
		got := jobNodes([]byte(tc.job))
		if got != tc.want || got.String() != tc.str {
			t.Errorf("%s: %+v %q, want %+v %q", tc.name, got, got.String(), tc.want, tc.str)
		}
	}
}

// FuzzJobNodes: the scanner decides as encoding/json does, whenever it
// decides at all (and it decides for the job logs mdtools writes).
func FuzzJobNodes(f *testing.F) {
	for _, s := range []string{
		`{"log":{"entries":[{"when":"x","type":"progress","detail":"md-install: a","node":"web2"},{"type":"finished","node":"web1"}]}}`,
		`{"name":"a","finished":true,"errors":0,"last":{"status":0},"n":[1,-2.5e+3,true,false,null,{}],"log":{"entries":[]}}`,
		`{"Log":{"entries":[{"type":"finished","node":"w"}]}}`, `{"log":{"entries":[{"TYPE":"finished","node":"w"}]}}`,
		`{"log":{"entries":[{"type":"finished","node":"w","node":"v"}]}}`, `{"log":null}`, `{"log":{"entries":[null]}}`,
		`{"log":{"entries":[{"type":"fin\u0069shed","node":"w"}]}}`, `{"x":"\u00e9\ud800","log":{}} `, `[1]`, `{"a":01}`,
		`{"log":{"entries":[{"type":"finished","node":"w"}]},"log":{}}`, `{"a":"\x7f\xff"}`, " {\"a\":[[[]]]}\t\n", `{"a":1.}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := scanNodes(data)
		if ok && !json.Valid(data) {
			t.Fatalf("%q: scanned, but it is no JSON", data)
		}
		if want := decodeNodes(data); ok && got != want {
			t.Fatalf("%q: scanned %+v, decoded %+v", data, got, want)
		}
	})
}

// TestScanNodesDecides: the scanner answers for the job logs mdtools and
// mod_md write, and leaves what it does not handle to encoding/json.
func TestScanNodesDecides(t *testing.T) {
	for _, tc := range []struct {
		job string
		ok  bool
	}{
		{`{"name":"a","finished":true,"last":{"status":0,"detail":"x"},"log":{"entries":[{"when":"Sun, 06 Dec 2026 22:14:40 GMT","type":"progress","detail":"md-install: live","node":"vm"},{"type":"finished"}]}}`, true},
		{`{"name":"a","errors":-1.5e3,"n":[true,false,null,{},[]],"log":{}}`, true},
		{`{"log":null}`, false},
		{`{"Log":{}}`, false},
		{`{"log":{"entries":[{"type":"finished","node":"\u0077"}]}}`, false},
		{`{"log":{"entries":[{"type":5}]}}`, false},
		{`{"log":{"entries":[]}} x`, false},
		{`{"a":01}`, false},
		{`{"a":[` + strings.Repeat("[", maxScanDepth) + strings.Repeat("]", maxScanDepth) + `]}`, false},
	} {
		if _, ok := scanNodes([]byte(tc.job)); ok != tc.ok {
			t.Errorf("%s: scanned %v, want %v", tc.job, ok, tc.ok)
		}
	}
}
