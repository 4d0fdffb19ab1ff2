package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	dir  string
	root *rootCache // the store directory, kept open (nil: opened each time)
}

var _ Backend = (*FS)(nil)

// Directory modes, per mod_md's md_store_fs_init: the groups that hold no
// unencrypted secret are readable so that Apache's workers can read them.
// These are the modes of directories the tools create; an existing
// directory is only tightened towards them, never loosened (setDirMode).
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
	case IsKeyFile(file):
		return 0o600
	case strings.Contains(file, "pubcert"), file == FileJob, file == FileHTTP01,
		strings.HasPrefix(file, "ocsp-"):
		return 0o644
	}
	return 0o600
}

// NewFS opens the store directory, creating it and its groups as needed with
// mod_md's permissions. Existing directories keep stricter modes.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("store: no store directory given")
	}
	f := &FS{dir: filepath.Clean(dir), root: newRootCache()}
	_, err := os.Stat(f.dir)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(f.dir, 0o755); err != nil { // parents as before; the store itself is set below
		return nil, fmt.Errorf("creating store directory: %w", err)
	}
	if err := tightenPath(f.dir, dirModes[GroupRoot], created); err != nil {
		return nil, fmt.Errorf("setting permissions of %s: %w", f.dir, err)
	}
	for _, g := range Groups {
		fd, err := f.openGroup(g, true)
		if err != nil {
			return nil, err
		}
		syscall.Close(fd)
	}
	return f, nil
}

// Dir is the store directory (for web-server outputs and messages only).
func (f *FS) Dir() string { return f.dir }

func (f *FS) setDir(g Group, name string) string {
	return filepath.Join(f.dir, string(g), name)
}

// Read implements Backend: a bounded read of a regular file, reached
// without following any link.
func (f *FS) Read(_ context.Context, g Group, name, file string) ([]byte, error) {
	if err := checkNames(g, name, file); err != nil {
		return nil, err
	}
	if file == "" {
		return nil, fmt.Errorf("%w: no file name", ErrBadName)
	}
	rel := relPath(string(g), name, file)
	root, release, err := f.root.get(f, true)
	if err != nil {
		return nil, err
	}
	defer release()
	fd, ok, err := openBeneath(root, rel, syscall.O_RDONLY|syscall.O_NONBLOCK)
	if ok {
		if err != nil {
			return nil, f.pathErr("open", rel, err)
		}
		return f.readRegular(fd, rel)
	}
	dfd, err := f.openSet(g, name, false)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(dfd)
	fh, err := f.openFileAt(dfd, rel, file, syscall.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return f.readBounded(fh, rel)
}

// ModTime implements Backend. A link in place of the file or set is an
// error naming it.
func (f *FS) ModTime(_ context.Context, g Group, name, file string) (time.Time, error) {
	if err := checkNames(g, name, file); err != nil {
		return time.Time{}, err
	}
	rel := relPath(string(g), name, file)
	if root, release, err := f.root.get(f, true); err == nil {
		fd, ok, err := openBeneath(root, rel, oPath)
		release()
		if ok {
			if err != nil {
				return time.Time{}, f.pathErr("stat", rel, err)
			}
			var st syscall.Stat_t
			err := syscall.Fstat(fd, &st)
			syscall.Close(fd)
			if err == nil && !isLink(st) {
				return time.Unix(st.Mtim.Unix()), nil
			}
		}
	}
	var dfd int
	var err error
	leaf := file
	if file == "" {
		dfd, leaf, err = f.openGroupForSet(g, name)
	} else {
		dfd, err = f.openSet(g, name, false)
	}
	if err != nil {
		return time.Time{}, err
	}
	defer syscall.Close(dfd)
	st, err := lstatAt(dfd, leaf)
	if err != nil {
		return time.Time{}, f.pathErr("stat", relPath(string(g), name, file), err)
	}
	if isLink(st) {
		return time.Time{}, &linkError{relPath(string(g), name, file)}
	}
	return time.Unix(st.Mtim.Unix()), nil
}

// openGroupForSet opens the directory that contains the set name (its
// group), or for name "" the directory containing the group.
func (f *FS) openGroupForSet(g Group, name string) (int, string, error) {
	if name == "" {
		fd, err := f.openRoot()
		if g == GroupRoot {
			return fd, ".", err
		}
		return fd, string(g), err
	}
	fd, err := f.openGroup(g, false)
	return fd, name, err
}

// Write implements Backend with an atomic replace.
func (f *FS) Write(_ context.Context, g Group, name, file string, data []byte) error {
	return f.write(g, name, file, data, true, false)
}

// write replaces a file: durable syncs the file and its directory; direct
// writes in place (for tmp/<md>, private to the activation that builds it).
func (f *FS) write(g Group, name, file string, data []byte, durable, direct bool) error {
	if err := checkNames(g, name, file); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("%w: no file name", ErrBadName)
	}
	dfd, err := f.openSet(g, name, true)
	if err != nil {
		return err
	}
	defer syscall.Close(dfd)
	rel := relPath(string(g), name, file)
	if direct {
		return f.writeDirect(dfd, rel, file, data, fileMode(g, file))
	}
	return f.writeAtomic(dfd, rel, file, data, fileMode(g, file), durable)
}

// beforeRename is a test hook run between writing the temp file and
// renaming it into place; an error aborts the write.
var beforeRename func(path string) error

// tempSuffix ends the names of the temp files of atomic writes,
// ".<file>.<12 hex>.tmp"; SweepTemp removes those a dead run left.
const tempSuffix = ".tmp"

// writeAtomic writes file in the directory dfd through a temp file that is
// created exclusively (never through a planted link), synced and renamed
// over file; then the directory is synced. On any error the temp file is
// removed and file keeps its previous content.
func (f *FS) writeAtomic(dfd int, rel, file string, data []byte, mode os.FileMode, durable bool) (err error) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + file + "." + hex.EncodeToString(rnd[:]) + tempSuffix
	path := f.dir + "/" + rel
	if err := writeNewFile(dfd, tmp, data, mode, durable); err != nil {
		if !errors.Is(err, syscall.EEXIST) { // not ours
			_ = unlinkAt(dfd, tmp, 0)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = unlinkAt(dfd, tmp, 0)
		}
	}()
	if beforeRename != nil {
		if err = beforeRename(path); err != nil {
			return err
		}
	}
	if err = syscall.Renameat(dfd, tmp, dfd, file); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if !durable {
		return nil
	}
	if err := fsyncFd(dfd); err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// writeNewFile creates name below dirfd (never there before: O_EXCL, so
// no link is followed and the file is regular), makes its mode exactly mode
// (O_CREAT honours the umask), writes data and, if durable, syncs it. On
// an error the file may be left; the caller removes it. Plain descriptor
// calls: an *os.File costs an fstat and three fcntl calls more per file,
// a tenth of the system calls of an order or an activation.
func writeNewFile(dirfd int, name string, data []byte, mode os.FileMode, durable bool) error {
	fd, err := syscall.Openat(dirfd, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		return err
	}
	err = syscall.Fchmod(fd, uint32(mode.Perm()))
	for len(data) > 0 && err == nil {
		var n int
		n, err = syscall.Write(fd, data)
		if errors.Is(err, syscall.EINTR) {
			err = nil
			continue
		}
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		data = data[max(n, 0):]
	}
	if err == nil && durable {
		err = syscall.Fsync(fd)
	}
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// writeDirect writes file in place (create or truncate), without fsync.
func (f *FS) writeDirect(dfd int, rel, file string, data []byte, mode os.FileMode) error {
	t, err := f.openFileAt(dfd, rel, file, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, uint32(mode))
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.dir+"/"+rel, err)
	}
	if err = t.Chmod(mode); err == nil {
		_, err = t.Write(data)
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.dir+"/"+rel, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data: a temp file in the same
// directory is created with mode, written, synced and renamed over path,
// then the directory is synced. On any error the temp file is removed and
// path keeps its previous content. For files outside a store; the last
// component is never followed if it is a link.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	dfd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	defer syscall.Close(dfd)
	f := &FS{dir: dir}
	return f.writeAtomic(dfd, filepath.Base(path), filepath.Base(path), data, mode, true)
}

// List implements Backend: the set directories of a group (links and
// temp entries are not sets).
func (f *FS) List(_ context.Context, g Group) ([]string, error) {
	if err := checkGroup(g); err != nil {
		return nil, err
	}
	entries, err := f.readDir(g, "")
	if err != nil {
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

// readDir lists a group or set directory; a missing one is empty.
func (f *FS) readDir(g Group, name string) ([]fs.DirEntry, error) {
	dfd, err := f.openSet(g, name, false)
	if err != nil {
		if notExist(err) {
			return nil, nil
		}
		return nil, err
	}
	d := os.NewFile(uintptr(dfd), f.setDir(g, name))
	defer d.Close()
	return d.ReadDir(-1)
}

// ListFiles implements Backend: regular files of a set, temp files excluded.
func (f *FS) ListFiles(_ context.Context, g Group, name string) ([]string, error) {
	if err := checkNames(g, name, ""); err != nil {
		return nil, err
	}
	if name == "" && g != GroupRoot {
		return nil, fmt.Errorf("%w: listing files in %s needs a set name", ErrBadName, g)
	}
	entries, err := f.readDir(g, name)
	if err != nil {
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

// Remove implements Backend. A link is removed itself (unlink never
// follows), which is what removing a store file means.
func (f *FS) Remove(_ context.Context, g Group, name, file string) error {
	if err := checkNames(g, name, file); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("%w: no file name", ErrBadName)
	}
	dfd, err := f.openSet(g, name, false)
	if err != nil {
		if notExist(err) {
			return nil
		}
		return err
	}
	defer syscall.Close(dfd)
	if err := unlinkAt(dfd, file, 0); err != nil && !errors.Is(err, syscall.ENOENT) {
		return f.pathErr("remove", relPath(string(g), name, file), err)
	}
	return nil
}

// trashSuffix ends the hidden names Purge renames a set to before it
// deletes it: ".<name>.<12 hex>.purge".
const trashSuffix = ".purge"

// Purge implements Backend. The set is first renamed to a hidden name in
// one step, so a run killed while deleting leaves either the whole set or
// no set (never a half-deleted one another run would misread); leftovers
// of such a run are removed by SweepTrash (md-install, every run).
func (f *FS) Purge(_ context.Context, g Group, name string) error {
	if err := checkNames(g, name, ""); err != nil || name == "" {
		return fmt.Errorf("%w: purge needs a set name", ErrBadName)
	}
	gfd, err := f.openGroup(g, false)
	if err != nil {
		if notExist(err) {
			return nil
		}
		return err
	}
	defer syscall.Close(gfd)
	st, err := lstatAt(gfd, name)
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return f.pathErr("stat", relPath(string(g), name), err)
	}
	if isLink(st) {
		return &linkError{relPath(string(g), name)}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	trash := "." + name + "." + hex.EncodeToString(rnd[:]) + trashSuffix
	if err := renameAt2(gfd, name, gfd, trash, renameNoReplace); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return f.pathErr("purge", relPath(string(g), name), err)
	}
	if err := removeAllAt(gfd, trash); err != nil {
		return f.pathErr("purge", relPath(string(g), name), err)
	}
	return nil
}

// removeTrash removes what purges killed midway left in a group. Nobody
// uses a renamed-away set, so no lock is needed; errors are ignored (a
// concurrent purge may be deleting the same one). It reports how many.
func (f *FS) removeTrash(gfd int) int {
	d, err := syscall.Dup(gfd)
	if err != nil {
		return 0
	}
	dir := os.NewFile(uintptr(d), "group")
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	n := 0
	for _, name := range names {
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, trashSuffix) {
			if removeAllAt(gfd, name) == nil {
				n++
			}
		}
	}
	return n
}

// Move implements Backend with renameat2(RENAME_NOREPLACE), refusing to
// replace a target or to move a link.
func (f *FS) Move(_ context.Context, from Group, fromName string, to Group, toName string) error {
	if err := f.moveSet(from, fromName, to, toName, true); err != nil {
		return fmt.Errorf("moving %s/%s to %s/%s: %w", from, fromName, to, toName, err)
	}
	return nil
}

// checkSetAt checks that name below gfd is a directory, not a link.
func (f *FS) checkSetAt(gfd int, g Group, name string) error {
	st, err := lstatAt(gfd, name)
	if err != nil {
		return f.pathErr("stat", relPath(string(g), name), err)
	}
	if isLink(st) {
		return &linkError{relPath(string(g), name)}
	}
	if !isDir(st) {
		return fmt.Errorf("store: %s is not a directory", relPath(string(g), name))
	}
	return nil
}

// moveSet renames the set from/fromName to to/toName, which must not
// exist, and tightens its mode to the target group's; durable syncs both
// group directories.
func (f *FS) moveSet(from Group, fromName string, to Group, toName string, durable bool) error {
	if err := checkNames(from, fromName, ""); err != nil || fromName == "" {
		return fmt.Errorf("%w: move needs set names", ErrBadName)
	}
	if err := checkNames(to, toName, ""); err != nil || toName == "" {
		return fmt.Errorf("%w: move needs set names", ErrBadName)
	}
	sfd, err := f.openGroup(from, false)
	if err != nil {
		return err
	}
	defer syscall.Close(sfd)
	dfd, err := f.openGroup(to, true)
	if err != nil {
		return err
	}
	defer syscall.Close(dfd)
	if err := f.checkSetAt(sfd, from, fromName); err != nil {
		return err
	}
	if st, err := lstatAt(dfd, toName); err == nil {
		if isLink(st) {
			return &linkError{relPath(string(to), toName)}
		}
		return fmt.Errorf("target exists: %w", fs.ErrExist)
	}
	if err := renameAt2(sfd, fromName, dfd, toName, renameNoReplace); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("target exists: %w", fs.ErrExist)
		}
		return err
	}
	fd, err := f.openDirAt(dfd, relPath(string(to), toName), toName, dirModes[to], false)
	if err != nil {
		return err
	}
	syscall.Close(fd)
	if !durable {
		return nil
	}
	if err := fsyncFd(dfd); err != nil {
		return err
	}
	return fsyncFd(sfd)
}

// renameExchange is Linux's RENAME_EXCHANGE flag for renameat2(2).
const renameExchange = 0x2

// Exchange implements Backend with renameat2(RENAME_EXCHANGE), so a reader
// of either path sees one complete set or the other at every moment.
func (f *FS) Exchange(_ context.Context, g1 Group, n1 string, g2 Group, n2 string) error {
	if err := f.exchangeSets(g1, n1, g2, n2, true); err != nil {
		return fmt.Errorf("exchanging %s/%s and %s/%s: %w", g1, n1, g2, n2, err)
	}
	return nil
}

// exchangeSets swaps two set directories (never links) atomically and
// tightens each to its new group's mode; durable syncs both groups.
func (f *FS) exchangeSets(g1 Group, n1 string, g2 Group, n2 string, durable bool) error {
	if err := checkNames(g1, n1, ""); err != nil || n1 == "" {
		return fmt.Errorf("%w: exchange needs set names", ErrBadName)
	}
	if err := checkNames(g2, n2, ""); err != nil || n2 == "" {
		return fmt.Errorf("%w: exchange needs set names", ErrBadName)
	}
	fd1, err := f.openGroup(g1, false)
	if err != nil {
		return err
	}
	defer syscall.Close(fd1)
	fd2, err := f.openGroup(g2, false)
	if err != nil {
		return err
	}
	defer syscall.Close(fd2)
	if err := f.checkSetAt(fd1, g1, n1); err != nil {
		return err
	}
	if err := f.checkSetAt(fd2, g2, n2); err != nil {
		return err
	}
	if err := renameAt2(fd1, n1, fd2, n2, renameExchange); err != nil {
		return err
	}
	for _, s := range []struct {
		fd   int
		g    Group
		name string
	}{{fd1, g1, n1}, {fd2, g2, n2}} {
		fd, err := f.openDirAt(s.fd, relPath(string(s.g), s.name), s.name, dirModes[s.g], false)
		if err != nil {
			return err
		}
		syscall.Close(fd)
	}
	if !durable {
		return nil
	}
	if err := fsyncFd(fd1); err != nil {
		return err
	}
	return fsyncFd(fd2)
}
