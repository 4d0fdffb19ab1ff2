package apacheconf

import (
	"fmt"
	"testing"
)

// TestServerIndexOncePerServer: a server whose names repeat (ServerName
// again as alias, an alias twice, an address equal to a name, in other
// cases) is listed once under each name, in server order.
func TestServerIndexOncePerServer(t *testing.T) {
	a := &server{hostname: "a.org", names: []string{"A.org", "www.a.org", "www.a.org"}, addrs: []addr{{host: "a.org"}, {host: "*"}}}
	b := &server{hostname: "b.org", names: []string{"www.a.org"}, addrs: []addr{{host: "*"}, {host: "*"}}}
	c := &server{hostname: "a.org"}
	ix := newServerIndex([]*server{a, b, c})
	want := map[string][]*server{"a.org": {a, c}, "www.a.org": {a, b}, "*": {a, b}, "b.org": {b}}
	if len(ix.byName) != len(want) {
		t.Errorf("%d names, want %d", len(ix.byName), len(want))
	}
	for n, w := range want {
		if got := ix.byName[n]; fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: %v, want %v", n, got, w)
		}
	}
}
