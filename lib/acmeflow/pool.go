package acmeflow

import (
	"context"
	"errors"
	"sync"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// RunAll processes records with at most jobs workers and calls emit for
// each record as soon as it is done (in completion order). It returns the
// number of MDs skipped because another run held their lock.
func (r *Runner) RunAll(ctx context.Context, recs []*md.Record, jobs int, emit func(*md.Record)) int {
	if jobs < 1 {
		jobs = 1
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		locked int
	)
	work := make(chan *md.Record)
	for i := 0; i < min(jobs, len(recs)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range work {
				if err := r.Process(ctx, rec); errors.Is(err, store.ErrLocked) {
					r.log().Warnf("%s: skipped: another run holds its lock", rec.Name)
					mu.Lock()
					locked++
					mu.Unlock()
				}
				emit(rec)
			}
		}()
	}
	for _, rec := range recs {
		work <- rec
	}
	close(work)
	wg.Wait()
	return locked
}
