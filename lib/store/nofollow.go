package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The store is walked one component at a time from a descriptor of the
// store directory, every component opened with O_NOFOLLOW: a symbolic link
// planted anywhere inside the store (a group, a set, a file, a lock) is
// refused instead of followed, so no command writes, reads, chmods or
// locks anything outside the store through it. Modes are set on opened
// descriptors (fchmod), never through a path. The store directory itself
// may be a link (/etc/apache2/md -> /srv/md): the operator chose that one.

// ErrSymlink is matched (errors.Is) by the error for a link inside the store.
var ErrSymlink = errors.New("store: symbolic link inside the store")

// ErrNotRegular is matched by the error for a store file that is a FIFO, a
// device, a socket or a directory where a regular file belongs.
var ErrNotRegular = errors.New("store: not a regular file")

// ErrTooLarge is matched by the error for a store file over MaxFileSize.
var ErrTooLarge = errors.New("store: file too large")

// MaxFileSize bounds every read of a store file. The largest files the
// tools write are CRLs, a few MB for the biggest public CAs.
const MaxFileSize = 64 << 20

type linkError struct{ rel string }

func (e *linkError) Error() string {
	return "store: " + e.rel + " is a symbolic link; refusing to follow it"
}
func (e *linkError) Is(target error) bool { return target == ErrSymlink }

const (
	atSymlinkNoFollow = 0x100
	atRemoveDir       = 0x200
	renameNoReplace   = 0x1
	openDirFlags      = syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
)

// relPath joins store-relative components for messages.
func relPath(parts ...string) string {
	p := path.Join(parts...)
	if p == "" {
		return "."
	}
	return p
}

// lstatAt is fstatat(AT_SYMLINK_NOFOLLOW).
func lstatAt(dirfd int, name string) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return st, err
	}
	_, _, errno := syscall.Syscall6(sysFstatat, uintptr(dirfd), uintptr(unsafePointer(p)),
		uintptr(unsafe.Pointer(&st)), atSymlinkNoFollow, 0, 0)
	if errno != 0 {
		return st, errno
	}
	return st, nil
}

func isLink(st syscall.Stat_t) bool { return st.Mode&syscall.S_IFMT == syscall.S_IFLNK }
func isDir(st syscall.Stat_t) bool  { return st.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func isReg(st syscall.Stat_t) bool  { return st.Mode&syscall.S_IFMT == syscall.S_IFREG }

// openDirAt opens the directory name below dirfd without following a link.
// create makes it (mode exactly, as mod_md's table says) when missing; an
// existing directory is only ever tightened to mode, never loosened.
func (f *FS) openDirAt(dirfd int, rel, name string, mode os.FileMode, create bool) (int, error) {
	created := false
	if create {
		err := syscall.Mkdirat(dirfd, name, 0o700)
		switch {
		case err == nil:
			created = true
		case errors.Is(err, syscall.EEXIST):
		default:
			return -1, f.pathErr("creating directory", rel, err)
		}
	}
	fd, err := syscall.Openat(dirfd, name, openDirFlags, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
			if st, serr := lstatAt(dirfd, name); serr == nil && isLink(st) {
				return -1, &linkError{rel}
			}
			if errors.Is(err, syscall.ENOTDIR) {
				return -1, fmt.Errorf("store: %s is not a directory", rel)
			}
		}
		return -1, f.pathErr("opening", rel, err)
	}
	if mode != 0 {
		if err := setDirMode(fd, mode, created); err != nil {
			syscall.Close(fd)
			return -1, f.pathErr("setting permissions of", rel, err)
		}
	}
	return fd, nil
}

// setDirMode gives a directory the table's mode: exactly when this run
// created it, else only by removing permission bits the table does not
// grant. A store laid out by mod_md (or an administrator) with stricter
// modes keeps them; set-id and sticky bits are kept.
func setDirMode(fd int, want os.FileMode, created bool) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	found := st.Mode & 0o7777
	next := uint32(want.Perm())
	if !created {
		next = found&^0o777 | found&0o777&uint32(want.Perm())
	}
	if next == found {
		return nil
	}
	return syscall.Fchmod(fd, next)
}

// tightenPath applies the rule of setDirMode to an existing directory
// given by path (the store directory itself, which may be a link).
func tightenPath(dir string, want os.FileMode, created bool) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	return setDirMode(fd, want, created)
}

func (f *FS) pathErr(op, rel string, err error) error {
	return &fs.PathError{Op: op, Path: f.dir + "/" + rel, Err: err}
}

// openRoot opens the store directory; the caller owns the descriptor.
func (f *FS) openRoot() (int, error) {
	fd, err := syscall.Open(f.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "opening store", Path: f.dir, Err: err}
	}
	return fd, nil
}

// openGroup opens a group directory (the store directory for GroupRoot).
func (f *FS) openGroup(g Group, create bool) (int, error) {
	if g == GroupRoot {
		return f.openRoot()
	}
	root, release, err := f.root.get(f, false)
	if err != nil {
		return -1, err
	}
	defer release()
	mode := os.FileMode(0)
	if create {
		mode = dirModes[g]
	}
	return f.openDirAt(root, string(g), string(g), mode, create)
}

// openSet opens the directory holding a set's files: the set directory,
// or the group directory when name is "".
func (f *FS) openSet(g Group, name string, create bool) (int, error) {
	if name != "" && g != GroupRoot {
		// fast path: an existing set in one openat2 call
		if root, release, err := f.root.get(f, false); err == nil {
			fd, ok, err := openBeneath(root, string(g)+"/"+name, syscall.O_RDONLY|syscall.O_DIRECTORY)
			release()
			if ok && err == nil {
				if !create {
					return fd, nil
				}
				if err := setDirMode(fd, dirModes[g], false); err != nil {
					syscall.Close(fd)
					return -1, f.pathErr("setting permissions of", relPath(string(g), name), err)
				}
				return fd, nil
			}
		}
	}
	gfd, err := f.openGroup(g, create)
	if err != nil || name == "" {
		return gfd, err
	}
	defer syscall.Close(gfd)
	mode := os.FileMode(0)
	if create {
		mode = dirModes[g]
	}
	return f.openDirAt(gfd, relPath(string(g), name), name, mode, create)
}

// openFileAt opens a file below dirfd without following a link, refusing
// anything but a regular file. O_NONBLOCK keeps a FIFO from blocking the
// open; it means nothing for regular files.
func (f *FS) openFileAt(dirfd int, rel, name string, flags int, mode uint32) (*os.File, error) {
	fd, err := syscall.Openat(dirfd, name, flags|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, mode)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			if st, serr := lstatAt(dirfd, name); serr == nil && isLink(st) {
				return nil, &linkError{rel}
			}
		}
		return nil, f.pathErr("open", rel, err)
	}
	return f.regularFile(fd, rel)
}

// regularFile makes an opened descriptor a blocking *os.File, refusing
// anything but a regular file.
func (f *FS) regularFile(fd int, rel string) (*os.File, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, f.pathErr("stat", rel, err)
	}
	if !isReg(st) {
		syscall.Close(fd)
		return nil, fmt.Errorf("%w: %s/%s is not a regular file; refusing to use it", ErrNotRegular, f.dir, rel)
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, f.pathErr("open", rel, err)
	}
	return os.NewFile(uintptr(fd), f.dir+"/"+rel), nil
}

// readBounded reads at most MaxFileSize bytes of an open file.
func (f *FS) readBounded(file *os.File, rel string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	if err != nil {
		return nil, f.pathErr("read", rel, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s/%s is larger than %d MiB; refusing to read it", ErrTooLarge, f.dir, rel, MaxFileSize>>20)
	}
	return data, nil
}

// removeAllAt removes name below dirfd and everything in it, never
// following a link (a link is removed itself).
func removeAllAt(dirfd int, name string) error {
	err := unlinkAt(dirfd, name, 0)
	if err == nil || errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if !errors.Is(err, syscall.EISDIR) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	fd, err := syscall.Openat(dirfd, name, openDirFlags, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if rerr := removeAllAt(fd, n); rerr != nil && err == nil {
				err = rerr
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	if err := unlinkAt(dirfd, name, atRemoveDir); err != nil && !errors.Is(err, syscall.ENOENT) {
		return err
	}
	return nil
}

func unlinkAt(dirfd int, name string, flags int) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall(syscall.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafePointer(p)), uintptr(flags))
	if errno != 0 {
		return errno
	}
	return nil
}

// renameAt2 is renameat(2) with flags (RENAME_NOREPLACE, RENAME_EXCHANGE).
func renameAt2(olddirfd int, oldname string, newdirfd int, newname string, flags int) error {
	po, err := syscall.BytePtrFromString(oldname)
	if err != nil {
		return err
	}
	pn, err := syscall.BytePtrFromString(newname)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall6(sysRenameat2, uintptr(olddirfd), uintptr(unsafePointer(po)),
		uintptr(newdirfd), uintptr(unsafePointer(pn)), uintptr(flags), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func fsyncFd(fd int) error {
	if err := syscall.Fsync(fd); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// HandOver gives a set directory and its regular files to the owner of the
// set's group directory when that owner is not root, through descriptors
// (fchown), so a link planted in the set hands nothing outside the store
// over. mod_md makes challenges/ its worker user's at startup, and its
// workers must read the files md-challenge writes as root. It reports
// whether anything was handed over.
func (f *FS) HandOver(_ context.Context, g Group, name string) (bool, error) {
	if err := checkNames(g, name, ""); err != nil || name == "" {
		return false, fmt.Errorf("%w: hand over needs a set name", ErrBadName)
	}
	gfd, err := f.openGroup(g, false)
	if err != nil {
		return false, err
	}
	defer syscall.Close(gfd)
	var gst syscall.Stat_t
	if err := syscall.Fstat(gfd, &gst); err != nil || gst.Uid == 0 {
		return false, err
	}
	sfd, err := f.openDirAt(gfd, relPath(string(g), name), name, 0, false)
	if err != nil {
		return false, err
	}
	d := os.NewFile(uintptr(sfd), f.setDir(g, name))
	defer d.Close()
	if err := syscall.Fchown(sfd, int(gst.Uid), int(gst.Gid)); err != nil {
		return false, f.pathErr("chown", relPath(string(g), name), err)
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false, err
	}
	for _, n := range names {
		rel := relPath(string(g), name, n)
		fh, err := f.openFileAt(sfd, rel, n, syscall.O_RDONLY, 0)
		if err != nil {
			if errors.Is(err, ErrSymlink) || errors.Is(err, ErrNotRegular) {
				continue // not ours to hand over
			}
			return false, err
		}
		err = fh.Chown(int(gst.Uid), int(gst.Gid))
		fh.Close()
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// openat2(2) resolves a whole store-relative path in one call while
// refusing every link on the way (RESOLVE_NO_SYMLINKS) and anything outside
// the store (RESOLVE_BENEATH): the fast path of reads and existence
// checks, which md-status and md-install make thousands of times. Any
// failure but "no such file" falls back to the component-by-component
// walk, which also names the link; kernels before 5.6 always use the walk.
const (
	sysOpenat2        = 437 // the same on amd64 and arm64
	resolveNoMagic    = 0x02
	resolveNoSymlinks = 0x04
	resolveBeneath    = 0x08
	oPath             = 0x200000
)

type openHow struct{ flags, mode, resolve uint64 }

var noOpenat2 atomic.Bool

// openBeneath opens rel below dirfd with openat2; ok is false when the
// caller must take the walk instead.
func openBeneath(dirfd int, rel string, flags int) (fd int, ok bool, err error) {
	if noOpenat2.Load() {
		return -1, false, nil
	}
	p, err := syscall.BytePtrFromString(rel)
	if err != nil {
		return -1, false, nil
	}
	how := openHow{flags: uint64(flags | syscall.O_NOFOLLOW | syscall.O_CLOEXEC), resolve: resolveNoSymlinks | resolveBeneath | resolveNoMagic}
	r, _, errno := syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafePointer(p)),
		uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
	switch errno {
	case 0:
		return int(r), true, nil
	case syscall.ENOENT:
		return -1, true, errno
	case syscall.ENOSYS, syscall.EPERM: // no openat2, or a seccomp filter refusing it
		noOpenat2.Store(true)
	}
	return -1, false, nil
}
