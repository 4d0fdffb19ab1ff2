package main

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// An IP address at Let's Encrypt without its "shortlived" profile is
// refused before any request to the CA (this machine has no route to
// it: a request would fail differently), on every run until it is fixed,
// and nothing is staged.
func TestIPWithoutRequiredProfileRefusedBeforeOrdering(t *testing.T) {
	dir := t.TempDir()
	st := mustStore(t, dir)
	le, _ := md.CAURLForName("LetsEncrypt")
	rec := record([]string{le}, "ip.example", "192.0.2.10")
	for run := 1; run <= 2; run++ {
		res := runOrder(t, jsonl(t, rec), "--store", dir)
		if res.code != 1 || len(res.recs) != 1 || res.recs[0].Error == nil {
			t.Fatalf("run %d: exit %d %+v\n%s", run, res.code, res.recs, res.stderr)
		}
		e := res.recs[0].Error
		if e.Problem != acmeflow.ProblemInvalidProfile || !strings.Contains(e.Detail, `profile "shortlived"`) || !strings.Contains(e.Detail, "192.0.2.10") {
			t.Errorf("run %d: error %+v", run, e)
		}
		if strings.Contains(res.stderr, "Contacting ACME server") {
			t.Errorf("run %d contacted the CA:\n%s", run, res.stderr)
		}
	}
	if names, _ := st.List(t.Context(), store.GroupStaging); len(names) != 0 {
		// the job log may live in staging; no order, key or certificate may
		for _, n := range names {
			files, _ := st.ListFiles(t.Context(), store.GroupStaging, n)
			for _, f := range files {
				if f != store.FileJob {
					t.Errorf("staged %s/%s", n, f)
				}
			}
		}
	}
}
