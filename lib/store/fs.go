package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// FS is the filesystem backend: mod_md's MDStoreDir layout.
type FS struct {
	dir string
}

var _ Backend = (*FS)(nil)

// Directory modes, per mod_md's md_store_fs_init: the groups that hold no
// unencrypted secret are readable so that Apache's workers can read them.
var dirModes = map[Group]os.FileMode{
	GroupRoot:       0o755,
	GroupAccounts:   0o755,
	GroupChallenges: 0o755,
	GroupStaging:    0o755,
	GroupOCSP:       0o755,
	GroupDomains:    0o700,
	GroupArchive:    0o700,
	GroupTmp:        0o700,
}

const lockDirName = "locks"

// fileMode decides a file's permissions: world-readable only for public
// material (certificates, challenge responses, OCSP data, job logs) in the
// readable groups; everything else, every key and every file that may hold a
// secret (md.json and account.json carry EAB HMACs), is owner-only.
func fileMode(g Group, file string) os.FileMode {
	if dirModes[g] != 0o755 || g == GroupRoot {
		return 0o600
	}
	switch {
	case strings.Contains(file, "privkey"), file == FileAccountKey:
		return 0o600
	case strings.Contains(file, "pubcert"), file == FileJob, file == FileHTTP01,
		strings.HasPrefix(file, "ocsp-"):
		return 0o644
	}
	return 0o600
}

// NewFS opens the store directory, creating it and its groups as needed with
// mod_md's permissions.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("store: no store directory given")
	}
	f := &FS{dir: filepath.Clean(dir)}
	if err := ensureDir(f.dir, dirModes[GroupRoot]); err != nil {
		return nil, err
	}
	for _, g := range Groups {
		if err := ensureDir(filepath.Join(f.dir, string(g)), dirModes[g]); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Dir is the store directory (for web-server outputs and messages only).
func (f *FS) Dir() string { return f.dir }

func ensureDir(path string, mode os.FileMode) error {
	if err := os.MkdirAll(path, mode); err != nil {
		return fmt.Errorf("creating store directory: %w", err)
	}
	if err := os.Chmod(path, mode); err != nil { // MkdirAll is subject to umask
		return fmt.Errorf("setting permissions of %s: %w", path, err)
	}
	return nil
}

func (f *FS) setDir(g Group, name string) string {
	return filepath.Join(f.dir, string(g), name)
}

func (f *FS) path(g Group, name, file string) (string, error) {
	if err := checkNames(g, name, file); err != nil {
		return "", err
	}
	return filepath.Join(f.dir, string(g), name, file), nil
}

// Read implements Backend.
func (f *FS) Read(g Group, name, file string) ([]byte, error) {
	p, err := f.path(g, name, file)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// ModTime implements Backend.
func (f *FS) ModTime(g Group, name, file string) (time.Time, error) {
	p, err := f.path(g, name, file)
	if err != nil {
		return time.Time{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// Write implements Backend with an atomic replace.
func (f *FS) Write(g Group, name, file string, data []byte) error {
	p, err := f.path(g, name, file)
	if err != nil {
		return err
	}
	if name != "" {
		if err := ensureDir(f.setDir(g, name), dirModes[g]); err != nil {
			return err
		}
	}
	return WriteFileAtomic(p, data, fileMode(g, file))
}

// beforeRename is a test hook run between writing the temp file and
// renaming it into place; an error aborts the write.
var beforeRename func(path string) error

// WriteFileAtomic replaces path with data: a temp file in the same
// directory is created with mode, written, synced and renamed over path,
// then the directory is synced. On any error the temp file is removed and
// path keeps its previous content.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFile(path, data, mode, true)
}

// writeFile is WriteFileAtomic; without durable it skips the two fsyncs
// (for the deferred view, which syncs the whole filesystem once).
func writeFile(path string, data []byte, mode os.FileMode, durable bool) (err error) {
	dir := filepath.Dir(path)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(path)+"."+hex.EncodeToString(rnd[:])+".tmp")
	t, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			t.Close()
			os.Remove(tmp)
		}
	}()
	if err = t.Chmod(mode); err != nil { // O_CREATE honours umask; be exact
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err = t.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if durable {
		if err = t.Sync(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err = t.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if beforeRename != nil {
		if err = beforeRename(path); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// List implements Backend: the set directories of a group.
func (f *FS) List(g Group) ([]string, error) {
	if err := checkGroup(g); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(f.dir, string(g)))
	if err != nil {
		if notExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && checkName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ListFiles implements Backend: regular files of a set, temp files excluded.
func (f *FS) ListFiles(g Group, name string) ([]string, error) {
	entries, err := os.ReadDir(f.setDir(g, name))
	if err != nil {
		if notExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, e.Name())
		}
	}
	sort.Strings(files)
	return files, nil
}

// Remove implements Backend.
func (f *FS) Remove(g Group, name, file string) error {
	p, err := f.path(g, name, file)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !notExist(err) {
		return err
	}
	return nil
}

// Purge implements Backend.
func (f *FS) Purge(g Group, name string) error {
	if err := checkNames(g, name, ""); err != nil || name == "" {
		return fmt.Errorf("%w: purge needs a set name", ErrBadName)
	}
	return os.RemoveAll(f.setDir(g, name))
}

// Move implements Backend with rename(2), refusing to replace a target.
func (f *FS) Move(from Group, fromName string, to Group, toName string) error {
	if err := moveSet(f.setDir(from, fromName), f.setDir(to, toName), dirModes[to], true); err != nil {
		return fmt.Errorf("moving %s/%s to %s/%s: %w", from, fromName, to, toName, err)
	}
	return nil
}

// moveSet renames the directory src to dst, which must not exist, and sets
// its mode; durable syncs both parent directories.
func moveSet(src, dst string, mode os.FileMode, durable bool) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("target exists: %w", fs.ErrExist)
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(src))
}

// renameExchange is Linux's RENAME_EXCHANGE flag for renameat2(2).
const renameExchange = 0x2

// Exchange implements Backend with renameat2(RENAME_EXCHANGE), so a reader
// of either path sees one complete set or the other at every moment.
func (f *FS) Exchange(g1 Group, n1 string, g2 Group, n2 string) error {
	if err := exchangeSets(f.setDir(g1, n1), dirModes[g1], f.setDir(g2, n2), dirModes[g2], true); err != nil {
		return fmt.Errorf("exchanging %s/%s and %s/%s: %w", g1, n1, g2, n2, err)
	}
	return nil
}

// exchangeSets swaps the directories a and b atomically and gives each path
// its mode; durable syncs both parent directories.
func exchangeSets(a string, modeA os.FileMode, b string, modeB os.FileMode, durable bool) error {
	pa, err := syscall.BytePtrFromString(a)
	if err != nil {
		return err
	}
	pb, err := syscall.BytePtrFromString(b)
	if err != nil {
		return err
	}
	const atFDCWD = -100
	fdcwd := atFDCWD
	_, _, errno := syscall.Syscall6(sysRenameat2, uintptr(fdcwd), uintptr(unsafePointer(pa)),
		uintptr(fdcwd), uintptr(unsafePointer(pb)), renameExchange, 0)
	if errno != 0 {
		return errno
	}
	if err := os.Chmod(b, modeB); err != nil {
		return err
	}
	if err := os.Chmod(a, modeA); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	if err := syncDir(filepath.Dir(a)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(b))
}

// Lock implements Backend with flock(2): the kernel drops the lock when the
// process dies, so a crash never leaves a store locked. The store-wide lock
// is mod_md's store.lock, so a mod_md with MDStoreLocks on excludes us too.
func (f *FS) Lock(ctx context.Context, name string, wait time.Duration) (func(), error) {
	path := filepath.Join(f.dir, "store.lock")
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, err
		}
		dir := filepath.Join(f.dir, lockDirName)
		if err := ensureDir(dir, 0o700); err != nil {
			return nil, err
		}
		path = filepath.Join(dir, name+".lock")
	}
	lf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
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
