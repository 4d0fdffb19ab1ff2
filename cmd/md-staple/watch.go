package main

import (
	"context"
	"errors"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/storewatch"
)

// watchWork is --watch: Runner.Watch until stopped (SIGTERM, SIGINT),
// writing each run's records as they come. With --all the MDs are the
// store's at each run, else the input records.
func watchWork(env cli.Env, r *staple.Runner, opts *staple.Options, st *store.Store, recs []*md.Record) *cli.Work {
	records := storewatch.Clone(recs)
	if opts.All {
		records = func(ctx context.Context) ([]*md.Record, error) {
			recs, err := staple.StoreRecords(ctx, st)
			cli.NameStore(recs, st)
			return recs, err
		}
	}
	out := cli.NewRecordWriter(env.Stdout)
	return &cli.Work{Batch: func(ctx context.Context, _ []*md.Record) ([]*md.Record, error) {
		err := r.Watch(ctx, staple.WatchOptions{Options: opts, Records: records,
			Emit: func(recs []*md.Record) error {
				for _, rec := range recs {
					if err := out.Write(rec); err != nil {
						return err
					}
				}
				return nil
			}})
		if errors.Is(err, storewatch.ErrNotWatchable) {
			return nil, &cli.UsageError{Err: err}
		}
		return nil, err
	}}
}
