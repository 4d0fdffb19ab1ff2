package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Deferred returns a view of the store whose writes, moves and exchanges
// skip their individual fsync calls, and a sync function that makes all of
// them durable at once (syncfs(2) on the store's filesystem). Every write is
// still atomic (temp file + rename) and every set change is still one
// rename or exchange, so readers and crashes see old or new content, never a
// mix; what is deferred is only the moment the kernel flushes it. A caller
// that needs "A is durable before B happens" calls sync between A and B.
//
// md-install uses it to activate a thousand staged sets with a handful of
// syncs instead of tens of thousands. On a backend other than the
// filesystem it returns the store itself and a no-op sync.
func (s *Store) Deferred() (*Store, func() error) {
	f, ok := s.b.(*FS)
	if !ok {
		return s, func() error { return nil }
	}
	d := &Store{b: &deferredFS{FS: f}, pass: s.pass, dir: s.dir, keys: s.keys}
	return d, func() error { return SyncFS(f.dir) }
}

// Batched is Deferred for a long run that writes as it goes (md-order): the
// Syncer makes the view's writes durable at most every interval while the
// run works (Maybe) and at its end (Sync), and costs nothing when the view
// wrote nothing. A power loss can cost at most the last interval's writes,
// which the next run redoes; a killed process costs nothing (its writes are
// in the page cache). On a backend other than the filesystem it returns the
// store itself and a Syncer that does nothing.
func (s *Store) Batched(every time.Duration) (*Store, *Syncer) {
	f, ok := s.b.(*FS)
	if !ok {
		return s, &Syncer{every: every}
	}
	y := &Syncer{every: every, sync: func() error { return SyncFS(f.dir) }}
	d := &Store{b: &deferredFS{FS: f, dirty: &y.dirty}, pass: s.pass, dir: s.dir, keys: s.keys}
	return d, y
}

// Synced is the store without deferral: for a Deferred or Batched view,
// the store it was made from; else s itself. A write that must be on disk
// before what follows it (an account's new key before its staged copy is
// removed) goes through it.
func (s *Store) Synced() *Store {
	if d, ok := s.b.(*deferredFS); ok {
		return &Store{b: d.FS, pass: s.pass, dir: s.dir, keys: s.keys}
	}
	return s
}

// Syncer batches the syncs of a Batched view.
type Syncer struct {
	dirty atomic.Bool // the view wrote something since the last sync
	every time.Duration
	sync  func() error // nil: nothing to sync (not a filesystem)

	mu   sync.Mutex
	last time.Time
}

// Maybe syncs when the view wrote something and the last sync (or the
// first call) is at least the interval ago.
func (y *Syncer) Maybe() error {
	if y.sync == nil || !y.dirty.Load() {
		return nil
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	now := time.Now()
	if y.last.IsZero() {
		y.last = now
	}
	if now.Sub(y.last) < y.every {
		return nil
	}
	return y.syncLocked(now)
}

// Sync makes everything the view wrote durable; nothing written, no sync.
func (y *Syncer) Sync() error {
	if y.sync == nil {
		return nil
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.syncLocked(time.Now())
}

func (y *Syncer) syncLocked(now time.Time) error {
	// a write finishing after the swap marks the view dirty again, so the
	// next sync covers it
	if !y.dirty.Swap(false) {
		return nil
	}
	y.last = now
	if err := y.sync(); err != nil {
		y.dirty.Store(true)
		return err
	}
	return nil
}

// SyncFS flushes the filesystem that holds path (syncfs(2)).
func SyncFS(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	defer d.Close()
	if _, _, errno := syscall.Syscall(sysSyncfs, d.Fd(), 0, 0); errno != 0 {
		return fmt.Errorf("syncing %s: %w", path, errno)
	}
	return nil
}

// deferredFS is FS without per-operation fsync. dirty, when set, is
// raised after every change that skipped its fsync.
type deferredFS struct {
	*FS
	dirty *atomic.Bool
}

func (f *deferredFS) changed() {
	if f.dirty != nil {
		f.dirty.Store(true)
	}
}

var _ Backend = (*deferredFS)(nil)

// Write replaces a file atomically (temp file + rename), without fsync.
// tmp/<md> is private to the activation that builds it and becomes visible
// only by the exchange into domains/: its files are written in place.
func (f *deferredFS) Write(_ context.Context, g Group, name, file string, data []byte) error {
	defer f.changed()
	return f.write(g, name, file, data, false, g == GroupTmp)
}

// Move renames a set, refusing to replace a target, without fsync.
func (f *deferredFS) Move(_ context.Context, from Group, fromName string, to Group, toName string) error {
	defer f.changed()
	if err := f.moveSet(from, fromName, to, toName, false); err != nil {
		return fmt.Errorf("moving %s/%s to %s/%s: %w", from, fromName, to, toName, err)
	}
	return nil
}

// Exchange swaps two sets with renameat2(RENAME_EXCHANGE), without fsync.
func (f *deferredFS) Exchange(_ context.Context, g1 Group, n1 string, g2 Group, n2 string) error {
	defer f.changed()
	if err := f.exchangeSets(g1, n1, g2, n2, false); err != nil {
		return fmt.Errorf("exchanging %s/%s and %s/%s: %w", g1, n1, g2, n2, err)
	}
	return nil
}
