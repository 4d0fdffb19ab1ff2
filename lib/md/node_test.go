package md

import (
	"strings"
	"testing"
	"time"
)

func TestCheckNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"web1", true},
		{"web-1.dc2.example.org", true},
		{"node_7", true},
		{"", false},
		{".hidden", false},
		{"-x", false},
		{"web 1", false},
		{"web1\n", false},
		{"a/b", false},
		{"ünï", false},
		{strings.Repeat("a", 253), true},
		{strings.Repeat("a", 254), false},
	} {
		if err := CheckNode(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckNode(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestNodeName(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == NodeEnv {
				return v
			}
			return ""
		}
	}
	if n, err := NodeName(env("web7")); n != "web7" || err != nil {
		t.Errorf("MD_NODE=web7: %q %v", n, err)
	}
	if _, err := NodeName(env("bad node")); err == nil || !strings.Contains(err.Error(), "$MD_NODE") {
		t.Errorf("MD_NODE='bad node': %v, want an error naming $MD_NODE", err)
	}
	if n, err := NodeName(env("")); err != nil || n != "" && CheckNode(n) != nil {
		t.Errorf("host name: %q %v", n, err)
	}
}

// TestAddLogNode: entries name the node set with SetNode.
func TestAddLogNode(t *testing.T) {
	defer SetNode(Node())
	SetNode("web3")
	var j Job
	j.AddLog(time.Now(), "progress", "", "x")
	b, err := j.MarshalJSON()
	if err != nil || j.Log.Entries[0].Node != "web3" || !strings.Contains(string(b), `"node": "web3"`) && !strings.Contains(string(b), `"node":"web3"`) {
		t.Errorf("entry %+v, JSON %s, %v", j.Log.Entries[0], b, err)
	}
	SetNode("")
	j.AddLog(time.Now(), "progress", "", "y")
	if b, _ := MarshalNoEscape(j.Log.Entries[0]); strings.Contains(string(b), "node") {
		t.Errorf("an entry without a node: %s", b)
	}
}
