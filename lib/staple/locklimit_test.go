package staple

import (
	"context"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
)

// TestLockBatches: with more sets to fetch for than a run may lock at
// once (maxLocks, from the open file limit), the run works in batches:
// every certificate is fetched once, every record is finished, and the
// next run keeps them all. Before, one lock per set was held for the
// whole run, and 100,000 new certificates failed the run with "too many
// open files".
func TestLockBatches(t *testing.T) {
	old := maxLocks
	maxLocks = func() int { return 2 }
	t.Cleanup(func() { maxLocks = old })
	resp, err := ocsptest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	ca, _ := ocsptest.NewCA("Batch CA")
	_ = resp.SetIssuer(ca.Cert, ca.Key)
	st := newStore(t)
	var recs []*md.Record
	for i := 0; i < 5; i++ {
		_, _, chain, _ := ca.Leaf(ocsptest.LeafOptions{OCSP: resp.URL})
		name := "b" + string(rune('a'+i)) + ".test"
		recs = append(recs, installPEM(t, st, name, chain))
	}
	recs = append(recs, &md.Record{MD: md.MD{Name: "none.test", Domains: []string{"none.test"}, Stapling: true}})
	for round, want := range []string{"fetched", "kept"} {
		for i, rec := range recs { // fresh records, as md-install passes them on
			c := *rec
			c.Staple, c.Error = nil, nil
			recs[i] = &c
		}
		r := &Runner{Store: st, Notifier: (&events{}).notifier, LockWait: 10 * time.Second}
		if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), recs)); err != nil {
			t.Fatalf("run %d: %v", round+1, err)
		}
		for _, rec := range recs[:5] {
			if e := entry(t, rec, "rsa"); e.Action != want || rec.Error != nil {
				t.Errorf("run %d: %s: %+v %+v; want %s", round+1, rec.Name, e, rec.Error, want)
			}
		}
		if last := recs[5]; last.Staple == nil || last.Staple.At.IsZero() {
			t.Errorf("run %d: the record without a certificate was not finished: %+v", round+1, last.Staple)
		}
	}
	if n := resp.Requests.Load(); n != 5 {
		t.Errorf("requests = %d; want 5 (one per certificate)", n)
	}
}
