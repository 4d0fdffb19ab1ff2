package staple

import (
	"context"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/storewatch"
)

// WatchOptions configure Runner.Watch (md-staple --watch).
type WatchOptions struct {
	// Options are those of each run.
	Options *Options
	// Records returns fresh records of the MDs this node serves: the
	// input records again (storewatch.Clone), or StoreRecords.
	Records func(ctx context.Context) ([]*md.Record, error)
	// Emit writes the records of a run.
	Emit func(recs []*md.Record) error
	// Settle, Retry and RetryLimit: see storewatch.Options.
	Settle, Retry, RetryLimit time.Duration
}

// Watch is md-staple's watch mode, for every node of a fleet sharing one
// store in etcd: it stays running and, as soon as any node stores a new
// OCSP response (ocsp/<md>/ocsp-*.json), runs over that MD's record here,
// which deploys the stored response next to this node's certificate
// (host.deploy) without asking the responder again (it is not due). It
// runs over every record at start and whenever the watch may have missed
// changes, and again, after a growing wait, for an MD whose run failed or
// whose response could not be deployed yet (md-install has not deployed
// its certificate here yet). It returns nil when ctx ends, and
// storewatch.ErrNotWatchable when the store cannot be watched.
func (r *Runner) Watch(ctx context.Context, wo WatchOptions) error {
	return storewatch.Run(ctx, storewatch.Options{
		Store: r.Store, Groups: []store.Group{store.GroupOCSP}, Relevant: newResponse,
		What: "OCSP responses", Records: wo.Records, Emit: wo.Emit,
		Stage: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
			return r.RunRecords(ctx, recs, wo.Options)
		},
		Failed: notStapled,
		Settle: wo.Settle, Retry: wo.Retry, RetryLimit: wo.RetryLimit, Log: r.Log,
	})
}

// newResponse reports whether an event stores an OCSP response.
func newResponse(_ store.Group, e store.Event) bool {
	return !e.Deleted && strings.HasPrefix(e.File, "ocsp-") && strings.HasSuffix(e.File, ".json")
}

// notStapled reports whether a record's run failed, or left a stored
// response undeployed although the MD staples and deploys files.
func notStapled(rec *md.Record) bool {
	if rec.Error != nil && rec.Error.Stage == "staple" {
		return true
	}
	if !rec.Stapling || rec.Host == nil || rec.Host.Deploy == nil || rec.Host.Deploy.Dir == "" || rec.Staple == nil {
		return false
	}
	for _, e := range rec.Staple.Responses {
		if e.Source == "ocsp" && e.File == "" {
			return true
		}
	}
	return false
}
