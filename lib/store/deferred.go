package store

import (
	"context"
	"fmt"
	"os"
	"syscall"
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

// deferredFS is FS without per-operation fsync.
type deferredFS struct {
	*FS
}

var _ Backend = (*deferredFS)(nil)

// Write replaces a file atomically (temp file + rename), without fsync.
// tmp/<md> is private to the activation that builds it and becomes visible
// only by the exchange into domains/: its files are written in place.
func (f *deferredFS) Write(_ context.Context, g Group, name, file string, data []byte) error {
	return f.write(g, name, file, data, false, g == GroupTmp)
}

// Move renames a set, refusing to replace a target, without fsync.
func (f *deferredFS) Move(_ context.Context, from Group, fromName string, to Group, toName string) error {
	if err := f.moveSet(from, fromName, to, toName, false); err != nil {
		return fmt.Errorf("moving %s/%s to %s/%s: %w", from, fromName, to, toName, err)
	}
	return nil
}

// Exchange swaps two sets with renameat2(RENAME_EXCHANGE), without fsync.
func (f *deferredFS) Exchange(_ context.Context, g1 Group, n1 string, g2 Group, n2 string) error {
	if err := f.exchangeSets(g1, n1, g2, n2, false); err != nil {
		return fmt.Errorf("exchanging %s/%s and %s/%s: %w", g1, n1, g2, n2, err)
	}
	return nil
}
