package install

import (
	"context"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/storewatch"
)

// Watch mode (md-install --watch): on every node of a fleet sharing one
// store that can be watched (etcd), md-install stays running and applies
// each activation another node makes (domains/<md> changing) to this node:
// the deploy files, the reload, the served check, as a normal run does for
// that MD. It catches up at start (and whenever the watch may have missed
// changes) with a run over every MD, and runs an MD that failed (locked by
// the activating node, reload failed) again after a growing wait.

// WatchOptions configure Watch.
type WatchOptions struct {
	// Options are those of each run; Options.Store must be watchable.
	Options
	// Records returns fresh records of the MDs this node installs: the
	// input records again (Clone), or the store's (StoreRecords).
	Records func(ctx context.Context) ([]*md.Record, error)
	// Emit writes the records of a run (md-install's stdout).
	Emit func(recs []*md.Record) error
	// Settle, Retry and RetryLimit: see storewatch.Options.
	Settle, Retry, RetryLimit time.Duration
}

// ErrNotWatchable means the store cannot report changes (a local
// directory): watch mode needs a shared store such as etcd.
var ErrNotWatchable = storewatch.ErrNotWatchable

// Clone returns a function giving deep copies of recs, for
// WatchOptions.Records.
func Clone(recs []*md.Record) func(context.Context) ([]*md.Record, error) {
	return storewatch.Clone(recs)
}

// Watch runs until ctx is done (then returns nil): a run over every record
// at start and on each resync, then a run over the records of the MDs
// whose live set changed in the store. It returns ErrNotWatchable when
// the store cannot be watched, or the error of Records or Emit.
func Watch(ctx context.Context, wo WatchOptions) error {
	return storewatch.Run(ctx, storewatch.Options{
		Store: wo.Store, Groups: []store.Group{store.GroupDomains}, Relevant: liveChange,
		What: "activations", Records: wo.Records, Emit: wo.Emit,
		Stage: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
			return recs, Run(ctx, wo.Options, recs)
		},
		Failed: func(r *md.Record) bool { return r.Error != nil && r.Error.Stage == "install" },
		Settle: wo.Settle, Retry: wo.Retry, RetryLimit: wo.RetryLimit, Log: wo.Log,
	})
}

// liveChange reports whether an event changes what a node deploys: a
// certificate or key of the live set (an activation rewrites them all).
// Other files (md.json, job.json) change without an activation; a run for
// them would only write them again, and wake every node again.
func liveChange(_ store.Group, e store.Event) bool {
	return strings.HasPrefix(e.File, "pubcert") || strings.HasPrefix(e.File, "privkey")
}
