package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestOCSPInProgressOnAnotherNode: on an etcd store, the OCSP lock of an
// MD held by another node (fetching its responses now) makes md-staple
// report the response "in-progress" with that node, exit 0, and fetch
// nothing for it; held by this node's other run, exit 3 as before.
func TestOCSPInProgressOnAnotherNode(t *testing.T) {
	resp, ca := responder(t, "md-staple fleet CA")
	srv := etcdtest.Start(t)
	web1, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/ocsp", Node: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	defer web1.Close()
	st, err := store.OpenBackend(t.Context(), web1, web1.String())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := installLive(t, st, ca, resp, "a.test")
	b, _ := json.Marshal(&md.Record{MD: *m, Order: &md.OrderResult{}})
	unlock, err := web1.Lock(t.Context(), "_ocsp.a.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	storeURL := "etcd://" + srv.Endpoint + "/ocsp"
	for _, tc := range []struct {
		node string
		code int
	}{{"web2", cli.ExitOK}, {"web1", cli.ExitLocked}} {
		t.Setenv(md.NodeEnv, tc.node)
		code, out, errOut := run(t, string(b)+"\n", "--store", storeURL, "--wait", "100ms")
		if code != tc.code {
			t.Fatalf("as %s: exit %d, want %d\n%s%s", tc.node, code, tc.code, out, errOut)
		}
		if tc.code != cli.ExitOK {
			continue
		}
		recs := decode(t, out)
		if len(recs) != 1 || recs[0].Staple == nil || len(recs[0].Staple.Responses) != 1 || recs[0].Error != nil {
			t.Fatalf("as %s: %s", tc.node, out)
		}
		if r := recs[0].Staple.Responses[0]; r.Action != "in-progress" || !strings.Contains(r.Detail, "another node: web1") {
			t.Errorf("as %s: response %+v", tc.node, r)
		}
		if n := resp.Requests.Load(); n != 0 {
			t.Errorf("as %s: %d OCSP requests", tc.node, n)
		}
	}
}
