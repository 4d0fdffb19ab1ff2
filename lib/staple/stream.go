package staple

// md-staple's streaming path: one record at a time, as lib/cli's stage
// hands them out, so that a run over many MDs holds only the records in
// flight (issue 17: 100,000 MDs without a memo held every record with its
// certificates and entries until the end of the run, 811 MB peak RSS).

import (
	"context"
	"errors"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// RunRecord brings the responses of one record's MD up to date, as Run
// does for a set of them, and fills the record. A triage from the stored
// files alone decides first: an MD with nothing due (every response
// fresh, or waiting in a backoff, or no certificate) is finished at once
// without its OCSP lock, as Run finishes it; only an MD with work is
// locked, looked at again under the lock, fetched and finished. Many
// RunRecord calls may run at once: requests in flight stay bounded by
// Parallel over all of them, and a CRL is fetched once per Runner.
//
// The outcome is Run's for the same store state: the same record, job
// log, files and events. The one difference is an MD whose OCSP lock
// another run holds beyond LockWait: Run fails as a whole (nothing is
// passed on), RunRecord returns that error (errors.Is store.ErrLocked)
// for this record only and leaves the record unfinished, so that a stage
// passes it on and exits 3. Any other error is recorded in the record.
func (r *Runner) RunRecord(ctx context.Context, rec *md.Record) error {
	s := r.setFromRecord(ctx, rec)
	if s == nil {
		return nil // the record says why
	}
	now := r.now()
	r.triage(ctx, s, now)
	if len(s.due) == 0 {
		r.finish(ctx, s)
		return nil
	}
	err := r.runLocked(ctx, []*Set{s}, now)
	if err != nil && !errors.Is(err, store.ErrLocked) {
		failRecord(rec, err)
		return nil
	}
	return err
}
