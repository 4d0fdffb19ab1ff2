package main

import (
	"context"
	"errors"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/install"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// watchWork is --watch: instead of one run, install.Watch until stopped
// (SIGTERM, SIGINT), writing each run's records as they come. With --all
// the MDs are the store's at each run, else the input records.
func watchWork(env cli.Env, opts install.Options, st *store.Store, recs []*md.Record, all bool) *cli.Work {
	records := install.Clone(recs)
	if all {
		records = func(ctx context.Context) ([]*md.Record, error) {
			recs, err := install.StoreRecords(ctx, st)
			cli.NameStore(recs, st)
			return recs, err
		}
	}
	out := cli.NewRecordWriter(env.Stdout)
	return &cli.Work{Batch: func(ctx context.Context, _ []*md.Record) ([]*md.Record, error) {
		err := install.Watch(ctx, install.WatchOptions{Options: opts, Records: records,
			Emit: func(recs []*md.Record) error {
				for _, r := range recs {
					if err := out.Write(r); err != nil {
						return err
					}
				}
				return nil
			}})
		if errors.Is(err, install.ErrNotWatchable) {
			return nil, &cli.UsageError{Err: err}
		}
		return nil, err
	}}
}
