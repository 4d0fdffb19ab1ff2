package md

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseRevocationReason(t *testing.T) {
	tests := []struct {
		in, name string
		code     int
		err      string
	}{
		{"keyCompromise", "keyCompromise", 1, ""},
		{"KEYCOMPROMISE", "keyCompromise", 1, ""},
		{"1", "keyCompromise", 1, ""},
		{"unspecified", "unspecified", 0, ""},
		{"superseded", "superseded", 4, ""},
		{"10", "aACompromise", 10, ""},
		{"7", "", 0, "revocation reason 7"},
		{"6", "", 0, "revocation reason 6"},
		{"keycompromize", "", 0, "did you mean keyCompromise?"},
		{"stolen", "", 0, `unknown revocation reason "stolen"`},
	}
	for _, tc := range tests {
		name, code, err := ParseRevocationReason(tc.in)
		if name != tc.name || code != tc.code || tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: got %q %d %v; want %q %d %q", tc.in, name, code, err, tc.name, tc.code, tc.err)
		}
	}
}

func TestRevocationsAddKeepsNewest(t *testing.T) {
	var rs Revocations
	for i := 0; i < MaxRevocations+5; i++ {
		rs.Add(Revocation{SHA256: fmt.Sprint(i)})
	}
	rs.Add(Revocation{SHA256: "3", Reason: "again"})
	if len(rs.Entries) != MaxRevocations || rs.Entries[0].Reason != "again" {
		t.Fatalf("got %d entries, first %+v", len(rs.Entries), rs.Entries[0])
	}
	if e, ok := rs.Find("3"); !ok || e.Reason != "again" {
		t.Errorf("Find(3) = %+v %v", e, ok)
	}
	n := 0
	for _, e := range rs.Entries {
		if e.SHA256 == "3" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the same certificate is listed %d times", n)
	}
}
