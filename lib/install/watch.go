package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Watch mode (md-install --watch): on every node of a fleet sharing one
// store that can be watched (etcd), md-install stays running and applies
// each activation another node makes (domains/<md> changing) to this node:
// the deploy files, the reload, the served check, as a normal run does for
// that MD. It catches up at start (and whenever the watch may have missed
// changes) with a run over every MD.

// Defaults of WatchOptions.
const (
	DefaultSettle     = 200 * time.Millisecond
	DefaultRetry      = 5 * time.Second
	DefaultRetryLimit = 10 * time.Minute
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Options are those of each run; Options.Store must be watchable.
	Options
	// Records returns fresh records of the MDs this node installs (a run
	// changes the records it gets): the input records again (Clone), or
	// the store's (StoreRecords).
	Records func(ctx context.Context) ([]*md.Record, error)
	// Emit writes the records of a run (md-install's stdout).
	Emit func(recs []*md.Record) error
	// Settle is how long to gather further changes after one, so that a
	// set written in several steps makes one run (default 200 ms).
	Settle time.Duration
	// Retry is the first wait before an MD whose run failed (locked by
	// the activating node, reload failed, store unreachable) is run
	// again; it doubles up to RetryLimit.
	Retry, RetryLimit time.Duration
}

// ErrNotWatchable means the store cannot report changes (a local
// directory): watch mode needs a shared store such as etcd.
var ErrNotWatchable = errors.New("install: the store cannot be watched")

// Clone returns a function giving deep copies of recs, for
// WatchOptions.Records.
func Clone(recs []*md.Record) func(context.Context) ([]*md.Record, error) {
	data := make([][]byte, len(recs))
	var merr error
	for i, r := range recs {
		data[i], merr = json.Marshal(r)
		if merr != nil {
			break
		}
	}
	return func(context.Context) ([]*md.Record, error) {
		if merr != nil {
			return nil, merr
		}
		out := make([]*md.Record, len(data))
		for i, d := range data {
			out[i] = new(md.Record)
			if err := json.Unmarshal(d, out[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// watcher is the state of one Watch.
type watcher struct {
	wo      WatchOptions
	due     map[string]time.Time     // MD -> when to retry it
	backoff map[string]time.Duration // MD -> its current retry wait
}

// Watch runs until ctx is done: a run over every record at start and on
// each resync, then a run over the records of the MDs whose live set
// changed in the store. It returns nil when ctx ends, ErrNotWatchable
// when the store cannot be watched, or the error of Records or Emit.
func Watch(ctx context.Context, wo WatchOptions) error {
	if wo.Settle <= 0 {
		wo.Settle = DefaultSettle
	}
	if wo.Retry <= 0 {
		wo.Retry = DefaultRetry
	}
	if wo.RetryLimit < wo.Retry {
		wo.RetryLimit = max(DefaultRetryLimit, wo.Retry)
	}
	events, ok, err := wo.Store.Watch(ctx, store.GroupDomains)
	if !ok {
		return fmt.Errorf("%w: %s is a local directory; watch mode needs a store shared by the nodes (--store etcd://...); run md-install from a timer instead", ErrNotWatchable, wo.Store)
	}
	if err != nil {
		return err
	}
	w := &watcher{wo: wo, due: map[string]time.Time{}, backoff: map[string]time.Duration{}}
	log := logger.Or(wo.Log)
	log.Infof("watching %s for activations", wo.Store)
	var retry <-chan time.Time
	for {
		var names []string
		all := false
		select {
		case <-ctx.Done():
			return nil
		case e, open := <-events:
			if !open {
				return nil // ctx ended
			}
			all, names = w.gather(ctx, events, e)
			if !all && len(names) == 0 {
				continue
			}
		case <-retry:
			names = w.dueNames(time.Now())
		}
		if err := w.round(ctx, all, names); err != nil {
			return err
		}
		retry = w.nextRetry()
	}
}

// gather collects the changes arriving within Settle of the first one:
// whether to run over everything (a Resync) and which MDs changed.
func (w *watcher) gather(ctx context.Context, events <-chan store.Event, first store.Event) (all bool, names []string) {
	add := func(e store.Event) {
		switch {
		case e.Resync:
			all = true
		case liveChange(e) && !slices.Contains(names, e.Name):
			names = append(names, e.Name)
		}
	}
	add(first)
	settle := time.NewTimer(w.wo.Settle)
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return all, names
		case <-settle.C:
			return all, names
		case e, open := <-events:
			if !open {
				return all, names
			}
			add(e)
		}
	}
}

// liveChange reports whether an event changes what a node deploys: a
// certificate or key of the live set (an activation rewrites them all).
// Other files (md.json, job.json) change without an activation; a run for
// them would only write them again, and wake every node again.
func liveChange(e store.Event) bool {
	return strings.HasPrefix(e.File, "pubcert") || strings.HasPrefix(e.File, "privkey")
}

// round runs md-install over every record (all) or those of names, emits
// the records and schedules retries of the failed ones.
func (w *watcher) round(ctx context.Context, all bool, names []string) error {
	log := logger.Or(w.wo.Log)
	recs, err := w.wo.Records(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if !all {
		recs = slices.DeleteFunc(recs, func(r *md.Record) bool { return !slices.Contains(names, r.Name) })
	}
	if len(recs) == 0 {
		return nil
	}
	what := "every MD"
	if !all {
		what = fmt.Sprint(recNames(recs))
	}
	log.Infof("installing %s", what)
	runErr := Run(ctx, w.wo.Options, recs)
	if ctx.Err() != nil {
		return nil // stopped midway: the records are incomplete
	}
	if runErr != nil && !errors.Is(runErr, store.ErrLocked) {
		log.Warnf("installing %s: %v", what, runErr)
	}
	now := time.Now()
	for _, r := range recs {
		failed := runErr != nil && !errors.Is(runErr, store.ErrLocked) ||
			r.Error != nil && r.Error.Stage == "install"
		w.schedule(r.Name, failed, now)
	}
	return w.wo.Emit(recs)
}

// schedule notes when to run an MD again: never after success, after a
// doubling wait after each failure.
func (w *watcher) schedule(name string, failed bool, now time.Time) {
	if !failed {
		delete(w.due, name)
		delete(w.backoff, name)
		return
	}
	b := w.backoff[name]
	switch {
	case b == 0:
		b = w.wo.Retry
	case b < w.wo.RetryLimit:
		b = min(2*b, w.wo.RetryLimit)
	}
	w.backoff[name] = b
	w.due[name] = now.Add(b)
	logger.Or(w.wo.Log).Infof("%s: trying again in %s", name, b)
}

// dueNames are the MDs whose retry is due.
func (w *watcher) dueNames(now time.Time) []string {
	var names []string
	for n, t := range w.due {
		if !t.After(now) {
			names = append(names, n)
			delete(w.due, n)
		}
	}
	slices.Sort(names)
	return names
}

// nextRetry fires when the earliest retry is due (nil: none pending).
func (w *watcher) nextRetry() <-chan time.Time {
	var first time.Time
	for _, t := range w.due {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return nil
	}
	return time.After(time.Until(first))
}

func recNames(recs []*md.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}
