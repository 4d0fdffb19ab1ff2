package main

import (
	"context"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple"
)

// recordJobs is the records worked on at once: their store reads and
// writes overlap (fsync), their requests are bounded by --parallel.
const recordJobs = 16

// streamWork works on the records one by one as they are read
// (staple.Runner.RunRecord), each written as soon as it and those before
// it are done: a run over many MDs does not hold them all with their
// certificates and OCSP state, as one batch did.
func streamWork(r *staple.Runner, opts *staple.Options, notes *staple.Notes) *cli.Work {
	return &cli.Work{
		Jobs: max(recordJobs, r.Parallel),
		Each: func(ctx context.Context, rec *md.Record) error {
			opts.ApplyTo(rec)
			return r.RunRecord(ctx, rec)
		},
		Until: notesUntil(notes),
	}
}
