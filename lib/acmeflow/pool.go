package acmeflow

import (
	"context"
	"errors"
	"sync"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// RunAll processes records with at most jobs workers and calls emit for
// each record in input order, as soon as it and all records before it are
// done. It returns the number of MDs skipped because another run held
// their lock.
func (r *Runner) RunAll(ctx context.Context, recs []*md.Record, jobs int, emit func(*md.Record)) int {
	if jobs < 1 {
		jobs = 1
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		locked int
	)
	done := make([]bool, len(recs))
	next := 0
	work := make(chan int)
	for i := 0; i < min(jobs, len(recs)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rec := recs[i]
				err := r.Process(ctx, rec)
				mu.Lock()
				if errors.Is(err, store.ErrLocked) {
					r.log().Warnf("%s: skipped: another run holds its lock", rec.Name)
					locked++
				}
				done[i] = true
				for next < len(recs) && done[next] {
					emit(recs[next])
					next++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range recs {
		work <- i
	}
	close(work)
	wg.Wait()
	return locked
}
