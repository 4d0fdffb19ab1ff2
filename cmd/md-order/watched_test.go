package main

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/acmeflow"
)

// An auto MD that md-parse found unused by any vhost ("watched": false) is
// left alone, without touching the network (the CA URL here is dead), as
// mod_md does; --force still orders it.
func TestUnwatchedMDIsNotOrdered(t *testing.T) {
	rec := record([]string{"https://127.0.0.1:1/dir"}, "unused.test")
	no := false
	rec.Watched = &no
	res := runOrder(t, jsonl(t, rec), "--store", t.TempDir())
	o := res.recs[0].Order
	if res.code != 0 || o == nil || o.Action != acmeflow.ActionNone || !strings.Contains(o.Reason, "no VirtualHost") {
		t.Fatalf("exit %d order %+v error %+v\n%s", res.code, o, res.recs[0].Error, res.stderr)
	}
	res = runOrder(t, jsonl(t, rec), "--store", t.TempDir(), "--force")
	if res.code != 1 || res.recs[0].Order.Action == acmeflow.ActionNone {
		t.Errorf("--force must try (and here fail at the dead CA): exit %d order %+v", res.code, res.recs[0].Order)
	}
}
