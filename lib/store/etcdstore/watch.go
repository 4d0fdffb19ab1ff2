package etcdstore

import (
	"context"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var _ store.Watcher = (*Backend)(nil)

// watchRetry is how long Watch waits before re-establishing a watch etcd
// ended (a compaction, a member without leader); it doubles up to
// watchRetryMax.
const (
	watchRetry    = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch implements store.Watcher with an etcd watch on the group's key
// range. The first event, a Resync, comes once etcd has created the watch;
// when etcd ends it (compaction, loss of the leader), Watch creates it
// again and sends another Resync. The channel closes when ctx is done.
func (b *Backend) Watch(ctx context.Context, g store.Group) (<-chan store.Event, error) {
	if err := store.CheckGroup(g); err != nil {
		return nil, err
	}
	gp := b.prefix + "/" + string(g) + "/"
	out := make(chan store.Event, 16)
	go func() {
		defer close(out)
		wait := watchRetry
		for ctx.Err() == nil {
			if b.watchOnce(ctx, gp, out) {
				wait = watchRetry
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, watchRetryMax)
		}
	}()
	return out, nil
}

// watchOnce runs one etcd watch on the keys under gp until etcd or ctx
// ends it; it reports whether the watch was established.
func (b *Backend) watchOnce(ctx context.Context, gp string, out chan<- store.Event) (created bool) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	send := func(e store.Event) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for resp := range b.cli.Watch(wctx, gp, clientv3.WithPrefix(), clientv3.WithCreatedNotify()) {
		if resp.Err() != nil {
			return created
		}
		if resp.Created {
			created = true
			if !send(store.Event{Resync: true}) {
				return created
			}
			continue
		}
		for _, ev := range resp.Events {
			name, file, ok := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), gp), "/")
			if !ok || store.CheckName(name) != nil || strings.Contains(file, "/") {
				continue // not a file of a set: not ours to report
			}
			if !send(store.Event{Name: name, File: file, Deleted: ev.Type == clientv3.EventTypeDelete}) {
				return created
			}
		}
	}
	return created
}
