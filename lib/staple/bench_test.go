package staple

import (
	"context"
	"testing"

	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

// BenchmarkRefresh1000 fetches, verifies and stores fresh responses for
// 1,000 installed MDs from a local responder on loopback (6 in flight).
//
//	go test -run '^$' -bench Refresh1000 -benchtime 3x ./lib/staple/
func BenchmarkRefresh1000(b *testing.B) {
	st, r := benchRunner(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, err := StoreRecords(b.Context(), st)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Run(context.Background(), r.SetsFromRecords(b.Context(), recs)); err != nil {
			b.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Error != nil || rec.Staple.Responses[0].Action != "fetched" {
				b.Fatalf("%s: %v %+v", rec.Name, rec.Error, rec.Staple.Responses)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1000-certs")
}

// BenchmarkRefreshRecord1000 is BenchmarkRefresh1000 on md-staple's
// streaming path: RunRecord per record, 16 at once as md-staple runs
// them, requests bounded by Parallel (6) over all of them.
//
//	go test -run '^$' -bench 'Refresh(Record)?1000' -benchtime 3x -benchmem ./lib/staple/
func BenchmarkRefreshRecord1000(b *testing.B) {
	st, r := benchRunner(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, err := StoreRecords(b.Context(), st)
		if err != nil {
			b.Fatal(err)
		}
		pool.Each(len(recs), 16, func(i int) {
			if err := r.RunRecord(context.Background(), recs[i]); err != nil {
				b.Error(err)
			}
		})
		for _, rec := range recs {
			if rec.Error != nil || rec.Staple.Responses[0].Action != "fetched" {
				b.Fatalf("%s: %v %+v", rec.Name, rec.Error, rec.Staple.Responses)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1000-certs")
}

// benchRunner is a forcing Runner over a store of 1,000 installed MDs
// whose responder answers on loopback.
func benchRunner(b *testing.B) (*store.Store, *Runner) {
	dir, _ := ocsptest.BenchStore(b, 1000, false)
	st, err := store.Open(b.Context(), dir)
	if err != nil {
		b.Fatal(err)
	}
	return st, &Runner{Store: st, Force: true, Notifier: (&events{}).notifier}
}
