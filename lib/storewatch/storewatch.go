// Package storewatch is the loop behind the watch modes (md-install
// --watch, md-staple --watch): on a store that reports changes (etcd), run
// a stage over the MDs whose data changed, within moments, on every node;
// over all of them at start and whenever changes may have been missed; and
// again, with a growing wait, for MDs whose run failed.
package storewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Defaults of Options.
const (
	DefaultSettle     = 200 * time.Millisecond
	DefaultRetry      = 5 * time.Second
	DefaultRetryLimit = 10 * time.Minute
	// DefaultStopGrace bounds how long a run in progress may go on after
	// a stop (SIGTERM), so that what it did is written out (systemd's
	// default stop timeout is 90 s).
	DefaultStopGrace = 60 * time.Second
)

// ErrNotWatchable means the store cannot report changes (a local
// directory): watch mode needs a shared store such as etcd.
var ErrNotWatchable = errors.New("the store cannot be watched")

// Options configure Run.
type Options struct {
	Store *store.Store
	// Groups are watched; a change there for which Relevant is true runs
	// the stage for the MD named by the set.
	Groups   []store.Group
	Relevant func(g store.Group, e store.Event) bool
	// What names the changes in the log ("activations").
	What string
	// Records returns fresh records of the MDs this node handles (a run
	// changes the records it gets): see Clone.
	Records func(ctx context.Context) ([]*md.Record, error)
	// Stage runs over records; it returns the records to emit and an
	// error for a failure of the whole run (every record then counts as
	// failed, except when the error wraps store.ErrLocked).
	Stage func(ctx context.Context, recs []*md.Record) ([]*md.Record, error)
	// Failed reports whether a record's run failed, so that it is tried
	// again (default: it has an error).
	Failed func(rec *md.Record) bool
	// Emit writes the records of a run.
	Emit func(recs []*md.Record) error
	// Settle is how long to gather further changes after one, so that a
	// set written in several steps makes one run (default 200 ms).
	Settle time.Duration
	// Retry is the first wait before a failed MD is run again; it
	// doubles up to RetryLimit.
	Retry, RetryLimit time.Duration
	// StopGrace bounds a run in progress after ctx is done
	// (DefaultStopGrace when 0): it finishes and its records are emitted.
	StopGrace time.Duration
	Log       logger.Logger
}

// change is an event of one of the watched groups.
type change struct {
	g store.Group
	e store.Event
}

// Run watches until ctx is done and returns nil then; it returns
// ErrNotWatchable at once when the store cannot be watched, and the error
// of Records or Emit.
func Run(ctx context.Context, o Options) error {
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.RetryLimit < o.Retry {
		o.RetryLimit = max(DefaultRetryLimit, o.Retry)
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.Failed == nil {
		o.Failed = func(r *md.Record) bool { return r.Error != nil }
	}
	o.Log = logger.Or(o.Log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := make(chan change)
	for _, g := range o.Groups {
		events, ok, err := o.Store.Watch(ctx, g)
		if !ok {
			return fmt.Errorf("%w: %s is a local directory; watch mode needs a store shared by the nodes (--store etcd://...); run from a timer instead", ErrNotWatchable, o.Store)
		}
		if err != nil {
			return err
		}
		go func() {
			for e := range events {
				select {
				case changes <- change{g, e}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	w := &watcher{o: o, due: map[string]time.Time{}, backoff: map[string]time.Duration{}}
	o.Log.Infof("watching %s for %s", o.Store, o.What)
	var retry <-chan time.Time
	for {
		var names []string
		all := false
		select {
		case <-ctx.Done():
			return nil
		case c := <-changes:
			all, names = w.gather(ctx, changes, c)
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

// watcher is the state of one Run.
type watcher struct {
	o       Options
	due     map[string]time.Time     // MD -> when to retry it
	backoff map[string]time.Duration // MD -> its current retry wait
}

// gather collects the changes arriving within Settle of the first one:
// whether to run over everything (a Resync) and which MDs changed.
func (w *watcher) gather(ctx context.Context, changes <-chan change, first change) (all bool, names []string) {
	add := func(c change) {
		switch {
		case c.e.Resync:
			all = true
		case w.o.Relevant(c.g, c.e) && !slices.Contains(names, c.e.Name):
			names = append(names, c.e.Name)
		}
	}
	add(first)
	settle := time.NewTimer(w.o.Settle)
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return all, names
		case <-settle.C:
			return all, names
		case c := <-changes:
			add(c)
		}
	}
}

// round runs the stage over every record (all) or those of names, emits
// the records and schedules retries of the failed ones.
func (w *watcher) round(ctx context.Context, all bool, names []string) error {
	recs, err := w.o.Records(ctx)
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
	w.o.Log.Infof("running for %s", what)
	sctx, done := graceful(ctx, w.o.StopGrace)
	out, runErr := w.o.Stage(sctx, recs)
	cut := sctx.Err() != nil
	done()
	if cut {
		return nil // stopped midway after the grace: the records are incomplete
	}
	wholeRun := runErr != nil && !errors.Is(runErr, store.ErrLocked)
	if wholeRun {
		w.o.Log.Warnf("running for %s: %v", what, runErr)
	}
	if out == nil {
		out = recs
	}
	now := time.Now()
	for _, r := range recs {
		w.schedule(r.Name, wholeRun || w.o.Failed(r), now)
	}
	return w.o.Emit(out)
}

// graceful is the context a round runs on: a stop (ctx done) lets the
// round finish, for at most grace, so that what it did is reported
// rather than cut off between a deploy and its record. done releases it.
func graceful(ctx context.Context, grace time.Duration) (sctx context.Context, done func()) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stopWatching := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(grace, cancel)
		mu.Unlock()
	})
	return sctx, func() {
		stopWatching()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
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
		b = w.o.Retry
	case b < w.o.RetryLimit:
		b = min(2*b, w.o.RetryLimit)
	}
	w.backoff[name] = b
	w.due[name] = now.Add(b)
	w.o.Log.Infof("%s: trying again in %s", name, b)
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

// Clone returns a function giving deep copies of recs (through their JSON
// form), for Options.Records.
func Clone(recs []*md.Record) func(context.Context) ([]*md.Record, error) {
	data := make([][]byte, len(recs))
	var merr error
	for i, r := range recs {
		if data[i], merr = json.Marshal(r); merr != nil {
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
