package main

import (
	"context"
	"runtime/metrics"
	"sync/atomic"

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
	var seen atomic.Int64
	return &cli.Work{
		Jobs: max(recordJobs, r.Parallel),
		Each: func(ctx context.Context, rec *md.Record) error {
			opts.ApplyTo(rec)
			if n := int(seen.Add(1)); n%heldEvery == 0 {
				heldRecords(n)
				writeHeapProfile()
			}
			return r.RunRecord(ctx, rec)
		},
		Until: notesUntil(notes),
	}
}

// heldEvery is how often (in records) streamWork looks at the heap.
const heldEvery = 5000

// bigHeap is the live heap from which heldRecords lowers the collector's
// target.
const bigHeap = 64 << 20

// heldRecords: lib/cli keeps every record worked on until the end of the
// run (for the exit code), 2-3 KB each: once that makes a big live heap,
// the collector's target goes down as for a batch of n records
// (cli.RecordsHeld). While the heap stays small (a stage that keeps only
// what is in flight), the default target costs less CPU.
func heldRecords(n int) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() > bigHeap {
		cli.RecordsHeld(n)
	}
}
