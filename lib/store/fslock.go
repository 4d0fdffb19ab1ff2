package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock implements Backend with flock(2): the kernel drops the lock when the
// process dies, so a crash never leaves a store locked. The store-wide lock
// is mod_md's store.lock, so a mod_md with MDStoreLocks on excludes us too.
// Lock files are opened without following links and must be regular files.
func (f *FS) Lock(ctx context.Context, name string, wait time.Duration) (func(), error) {
	lf, path, err := f.openLock(name)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
				lf.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			lf.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if wait < 0 || time.Now().After(deadline) {
			lf.Close()
			what := "the store"
			if name != "" {
				what = name
			}
			return nil, fmt.Errorf("%w: %s (lock %s)", ErrLocked, what, path)
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// openLock opens (creating) the lock file of name, store.lock for "".
func (f *FS) openLock(name string) (*os.File, string, error) {
	root, release, err := f.root.get(f, false)
	if err != nil {
		return nil, "", err
	}
	defer release()
	dfd, rel, file := root, "store.lock", "store.lock"
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, "", err
		}
		ld, err := f.openDirAt(root, lockDirName, lockDirName, 0o700, true)
		if err != nil {
			return nil, "", err
		}
		defer syscall.Close(ld)
		dfd, file = ld, name+".lock"
		rel = lockDirName + "/" + file
	}
	lf, err := f.openFileAt(dfd, rel, file, syscall.O_RDWR|syscall.O_CREAT, 0o640)
	if err != nil {
		return nil, "", fmt.Errorf("opening lock: %w", err)
	}
	return lf, f.dir + "/" + rel, nil
}
