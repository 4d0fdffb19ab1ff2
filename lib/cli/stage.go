package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// Stage is the skeleton of a record stage (md-order, md-install,
// md-staple, md-challenge setup/teardown), so that each of them reads,
// opens, works, writes and exits by the same rules:
//
//  1. read every input record (files named as arguments, else stdin) and
//     check them before anything is done, or take the MDs from the store
//     (--all); a stage with a MemoSpec streams instead (runStream: each
//     record is checked as it is read, and a bad line ends the input);
//  2. open the store the records name (ChooseStore);
//  3. Start the command's work on it; run Each on every record in a
//     bounded pool of Jobs workers, then Batch once over all records
//     (md-install's single reload);
//  4. write every record to stdout in input order, the failed ones too:
//     they are passed on for the next stage, with their error;
//  5. finish with the exit code: a Batch error, else 1 if a record
//     failed, else 3 if an MD was skipped because another run held its
//     lock, else 0.
type Stage struct {
	// NoInput is set when the command reads no records at all (md-staple
	// with only --cert FILE).
	NoInput bool
	// Checked, if set, looks at the records before the store is opened;
	// its error (a UsageError) stops the run with nothing done.
	Checked func(recs []*md.Record) error
	// FromStore, if set, makes the records from the store instead of the
	// input (--all); they are given the store's name (NameStore).
	FromStore func(ctx context.Context, st *store.Store) ([]*md.Record, error)
	// Open opens the chosen store directory; nil opens it read-write
	// (OpenStore). done, if not nil, is called when the run ends.
	Open func(ctx context.Context, ch ChosenStore) (st *store.Store, done func(), err error)
	// Start prepares the work once the store is open and returns it.
	Start func(ctx context.Context, st *store.Store, recs []*md.Record) (*Work, error)
	// LockedHint is the hint given when the run ends with exit 3.
	LockedHint string
	// Memo, if set, makes the stage stream its records and replay
	// answers that cannot have changed (see MemoSpec and runStream).
	Memo *MemoSpec
}

// Work is what a Stage does with its records.
type Work struct {
	// Jobs bounds the records worked on at once by Each (at least 1).
	Jobs int
	// Each works on one record and records the outcome in it. An error
	// wrapping store.ErrLocked means another run holds the MD: it is
	// skipped and counted for exit 3; other errors are already in the
	// record.
	Each func(ctx context.Context, rec *md.Record) error
	// Batch runs once after Each over all records and returns the records
	// to write (it may add some). An error from it is the run's error: it
	// wins over failed records; the records it returns are still written.
	Batch func(ctx context.Context, recs []*md.Record) ([]*md.Record, error)
	// Quick, with Batch in a streaming run, works on a record alone as it
	// comes when it can: true means the record is done, and it is written
	// (and remembered) without waiting for Batch; false leaves it,
	// unchanged, for Batch. It runs on Jobs records at once (default 2 per
	// CPU, at least 4) and is never given a record whose name came earlier
	// in the input. A run whose memo cannot answer (the first after an
	// upgrade or a config change) then holds only what Batch needs.
	Quick func(ctx context.Context, rec *md.Record) bool
	// Close releases what Start set up, after the records are written.
	Close func()
	// Until, with a Stage's Memo, says until when the answer Each or
	// Batch gave a record stays right while the paths of the MemoSpec do
	// not change; false when it cannot be remembered.
	Until func(rec *md.Record) (time.Time, bool)
}

// Run runs the stage for a command invoked with c.
func (s *Stage) Run(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
	if s.streams() {
		return s.runStream(ctx, c, env, log)
	}
	recs, err := s.inputs(c, env)
	if err != nil {
		return err
	}
	st, done, err := s.open(ctx, c, env, log, recs)
	if done != nil {
		defer done()
	}
	if err != nil {
		return err
	}
	if s.FromStore != nil {
		if recs, err = s.FromStore(ctx, st); err != nil {
			return err
		}
		NameStore(recs, st)
	}
	w, err := s.Start(ctx, st, recs)
	if err != nil {
		return err
	}
	if w.Close != nil {
		defer w.Close()
	}
	return s.work(ctx, w, recs, NewRecordWriter(env.Stdout), log)
}

func (s *Stage) inputs(c *ucli.Context, env Env) ([]*md.Record, error) {
	if s.NoInput || s.FromStore != nil {
		return nil, nil
	}
	recs, err := OpenInputs(c.Args().Slice(), env.Stdin, true)
	if err != nil {
		return nil, err
	}
	RecordsHeld(len(recs))
	if s.Checked != nil {
		if err := s.Checked(recs); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (s *Stage) open(ctx context.Context, c *ucli.Context, env Env, log *Logger, recs []*md.Record) (*store.Store, func(), error) {
	if s.Open == nil {
		st, err := OpenStore(ctx, c, env, log, recs)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	}
	ch, err := StoreFor(c, env, log, recs)
	if err != nil {
		return nil, nil, err
	}
	return s.Open(ctx, ch)
}

// work runs Each in the pool, writing each record as soon as it and all
// before it are done (a long pipeline sees output early), or, with a
// Batch, runs it and writes what it returns.
func (s *Stage) work(ctx context.Context, w *Work, recs []*md.Record, out *RecordWriter, log *Logger) error {
	skips := &lockedSkips{log: log}
	var werr error
	if w.Each != nil {
		emit := func(i int) error {
			if w.Batch == nil {
				if err := out.Write(recs[i]); err != nil {
					werr = fmt.Errorf("writing records: %w", err)
				}
			}
			return werr
		}
		_ = pool.Ordered(len(recs), max(1, w.Jobs), 0, func(i int) {
			if err := w.Each(ctx, recs[i]); errors.Is(err, store.ErrLocked) {
				skips.skip(recs[i].Name)
			}
		}, emit)
		if werr != nil {
			return werr
		}
	}
	var batchErr error
	if w.Batch != nil {
		recs, batchErr = w.Batch(ctx, recs)
		for _, r := range recs {
			if err := out.Write(r); err != nil {
				return fmt.Errorf("writing records: %w", err)
			}
		}
	}
	locked := skips.count()
	finErr := Finish(log, recs)
	switch {
	case batchErr != nil:
		if errors.Is(batchErr, store.ErrLocked) && s.LockedHint != "" {
			return &Hinted{Err: batchErr, Hint: s.LockedHint}
		}
		return batchErr
	case finErr != nil:
		return finErr
	case locked > 0:
		return &Hinted{Err: store.ErrLocked, Hint: s.LockedHint}
	}
	return nil
}
