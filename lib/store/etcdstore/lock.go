package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// errRequest marks a failed etcd request while locking.
var errRequest = errors.New("etcd request failed")

// lockKey is the mutex prefix of a lock: the store-wide lock for "".
func (b *Backend) lockKey(name string) string {
	if name == "" {
		return b.prefix + "/store.lock"
	}
	return b.prefix + "/locks/" + name
}

// session is this handle's lease; all its locks hang on it. One that
// expired (the node lost etcd for longer than the TTL, and with it its
// locks) is replaced.
func (b *Backend) session(ctx context.Context) (*concurrency.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil {
		select {
		case <-b.sess.Done():
			b.sess = nil
		default:
			return b.sess, nil
		}
	}
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	lease, err := b.cli.Grant(rctx, int64(b.cfg.LockTTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("creating the lease for locks: %w", err)
	}
	// the keep-alives live as long as the session, not the request
	s, err := concurrency.NewSession(b.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.Background()))
	if err != nil {
		return nil, fmt.Errorf("creating the lease for locks: %w", err)
	}
	b.sess = s
	return s, nil
}

// Lock implements store.Backend with a concurrency.Mutex on the handle's
// lease: a node that dies loses its locks when the lease expires (LockTTL).
// Two Lock calls on one handle exclude each other too, as two flock(2)
// calls do. A wait of zero or less tries once.
func (b *Backend) Lock(ctx context.Context, name string, wait time.Duration) (func(), error) {
	if name != "" {
		if err := store.CheckName(name); err != nil {
			return nil, err
		}
	}
	key := b.lockKey(name)
	what := "the store"
	if name != "" {
		what = name
	}
	locked := fmt.Errorf("%w: %s (etcd lock %s in %s)", store.ErrLocked, what, key, b.desc)
	lctx, cancel := ctx, context.CancelFunc(func() {})
	if wait > 0 {
		lctx, cancel = context.WithTimeout(ctx, wait)
	}
	defer cancel()
	release, err := b.localLock(lctx, key, wait <= 0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, locked
	}
	unlock, err := b.etcdLock(ctx, lctx, key, wait <= 0)
	// the wait ran out (not a request timeout: etcd not answering is an
	// etcd error, never "locked")
	taken := func(err error) bool {
		return errors.Is(err, concurrency.ErrLocked) || wait > 0 && lctx.Err() != nil && ctx.Err() == nil && !errors.Is(err, errRequest)
	}
	node := ""
	if err != nil && taken(err) {
		if node = b.holder(ctx, key); node == "" && wait > 0 {
			// no holder: it let go as the wait ran out; one more try
			if unlock, err = b.etcdLock(ctx, ctx, key, true); err != nil && taken(err) {
				node = b.holder(ctx, key)
			}
		}
	}
	if err != nil {
		release()
		if taken(err) {
			if node != "" && node != b.cfg.Node {
				return nil, &store.ElsewhereError{Name: name, Node: node, Lock: key + " in " + b.desc}
			}
			return nil, locked
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, b.failed("locking "+what, err)
	}
	var once sync.Once // a second call (a deferred unlock) must not block on release
	return func() { once.Do(func() { unlock(); release() }) }, nil
}

// etcdLock takes the mutex key, once or waiting within lctx.
func (b *Backend) etcdLock(ctx, lctx context.Context, key string, once bool) (func(), error) {
	s, err := b.session(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRequest, err)
	}
	m := concurrency.NewMutex(s, key)
	if b.cfg.Node != "" {
		// say which node this is, for the nodes that find the lock taken:
		// the mutex adopts a key its session made already, so the key
		// names the node from its creation on, also while it waits and
		// in the moment it becomes the holder (a name written after
		// taking the lock left a window in which the holder was unnamed
		// and another node's wait ended in a plain "locked", exit 3)
		err := b.idempotent(ctx, func(rctx context.Context) error {
			_, err := b.cli.Put(rctx, fmt.Sprintf("%s/%x", key, s.Lease()), b.cfg.Node, clientv3.WithLease(s.Lease()))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errRequest, err)
		}
	}
	if once {
		rctx, cancel := b.ctx(ctx)
		err = m.TryLock(rctx)
		cancel()
		if err != nil && !errors.Is(err, concurrency.ErrLocked) {
			err = fmt.Errorf("%w: %w", errRequest, err)
		}
	} else {
		err = m.Lock(lctx)
	}
	if err != nil {
		return nil, err
	}
	return func() {
		// a lost lease has released the lock already
		uctx, cancel := b.ctx(context.Background())
		_ = m.Unlock(uctx)
		cancel()
	}, nil
}

// holder is the node name the holder of the mutex key wrote into its
// key ("" if unknown: an older mdtools, or a handle without a node
// name).
func (b *Backend) holder(ctx context.Context, key string) string {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	resp, err := b.cli.Get(rctx, key+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	node := string(resp.Kvs[0].Value)
	if md.CheckNode(node) != nil {
		return ""
	}
	return node
}

// localLock excludes other Lock calls of this handle on key.
func (b *Backend) localLock(ctx context.Context, key string, once bool) (func(), error) {
	b.mu.Lock()
	ch := b.local[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		b.local[key] = ch
	}
	b.mu.Unlock()
	release := func() { <-ch }
	select {
	case ch <- struct{}{}:
		return release, nil
	default:
	}
	if once {
		return nil, store.ErrLocked
	}
	select {
	case ch <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
