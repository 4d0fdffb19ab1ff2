package status

import "testing"

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
