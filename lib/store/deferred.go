package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
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
	d := &Store{b: &deferredFS{FS: f, dirs: &sync.Map{}}, pass: s.pass, dir: s.dir}
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

// deferredFS is FS without per-operation fsync. It also remembers the set
// directories it created, so that a thousand writes do not stat and chmod
// the same directory a thousand times.
type deferredFS struct {
	*FS
	dirs *sync.Map // set dir path -> struct{}
}

var _ Backend = (*deferredFS)(nil)

// Write replaces a file atomically (temp file + rename), without fsync.
func (f *deferredFS) Write(g Group, name, file string, data []byte) error {
	p, err := f.path(g, name, file)
	if err != nil {
		return err
	}
	if name != "" {
		dir := f.setDir(g, name)
		if _, ok := f.dirs.Load(dir); !ok {
			if err := ensureDir(dir, dirModes[g]); err != nil {
				return err
			}
			f.dirs.Store(dir, struct{}{})
		}
	}
	write := writeFileNoSync
	if g == GroupTmp {
		// tmp/<md> is private to the activation that builds it and becomes
		// visible only by the exchange into domains/: no temp file needed.
		write = writeFileDirect
	}
	err = write(p, data, fileMode(g, file))
	if errors.Is(err, fs.ErrNotExist) && name != "" {
		// the set was removed behind this view's back: create it again
		if err := ensureDir(f.setDir(g, name), dirModes[g]); err != nil {
			return err
		}
		err = write(p, data, fileMode(g, file))
	}
	return err
}

func writeFileNoSync(path string, data []byte, mode os.FileMode) error {
	return writeFile(path, data, mode, false)
}

// Purge deletes a set and forgets that its directory exists.
func (f *deferredFS) Purge(g Group, name string) error {
	f.dirs.Delete(f.setDir(g, name))
	return f.FS.Purge(g, name)
}

// writeFileDirect writes path in place (create or truncate), without fsync.
func writeFileDirect(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(mode); err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Move renames a set, refusing to replace a target, without fsync.
func (f *deferredFS) Move(from Group, fromName string, to Group, toName string) error {
	src, dst := f.setDir(from, fromName), f.setDir(to, toName)
	f.dirs.Delete(src)
	f.dirs.Delete(dst)
	if err := moveSet(src, dst, dirModes[to], false); err != nil {
		return fmt.Errorf("moving %s/%s to %s/%s: %w", from, fromName, to, toName, err)
	}
	return nil
}

// Exchange swaps two sets with renameat2(RENAME_EXCHANGE), without fsync.
func (f *deferredFS) Exchange(g1 Group, n1 string, g2 Group, n2 string) error {
	a, b := f.setDir(g1, n1), f.setDir(g2, n2)
	f.dirs.Delete(a)
	f.dirs.Delete(b)
	if err := exchangeSets(a, dirModes[g1], b, dirModes[g2], false); err != nil {
		return fmt.Errorf("exchanging %s/%s and %s/%s: %w", g1, n1, g2, n2, err)
	}
	return nil
}
