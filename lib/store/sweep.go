package store

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
)

// sweeper is implemented by backends that can leave temp files behind.
type sweeper interface {
	sweepTemp(ctx context.Context, g Group, name string) (int, error)
	sweepTrash(ctx context.Context, g Group) (int, error)
}

// SweepTemp removes the temp files (".<file>.<hex>.tmp") that writers
// killed between creating and renaming them left in a set. Only the
// caller knows that no live writer owns one: it must hold every lock under
// which the set is written (the MD's lock for staging/<md> and tmp/<md>;
// the MD's lock and the store lock for domains/<md>, which md-parse writes
// under the store lock). It reports how many it removed.
func (s *Store) SweepTemp(ctx context.Context, g Group, name string) (int, error) {
	if err := checkNames(g, name, ""); err != nil {
		return 0, err
	}
	if sw, ok := s.b.(sweeper); ok {
		return sw.sweepTemp(ctx, g, name)
	}
	return 0, nil
}

// SweepTrash removes what purges killed midway left in a group (hidden
// ".<name>.<hex>.purge" directories). Nobody uses those, so no lock is
// needed.
func (s *Store) SweepTrash(ctx context.Context, g Group) (int, error) {
	if err := checkGroup(g); err != nil {
		return 0, err
	}
	if sw, ok := s.b.(sweeper); ok {
		return sw.sweepTrash(ctx, g)
	}
	return 0, nil
}

func (f *FS) sweepTemp(_ context.Context, g Group, name string) (int, error) {
	dfd, err := f.openSet(g, name, false)
	if err != nil {
		if notExist(err) {
			return 0, nil
		}
		return 0, err
	}
	d := os.NewFile(uintptr(dfd), f.setDir(g, name))
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range names {
		if !isTempName(e) {
			continue
		}
		if err := unlinkAt(dfd, e, 0); err != nil && !errors.Is(err, syscall.ENOENT) {
			return n, f.pathErr("remove", relPath(string(g), name, e), err)
		}
		n++
	}
	return n, nil
}

// isTempName matches writeAtomic's ".<file>.<12 hex>.tmp".
func isTempName(n string) bool {
	rest, ok := strings.CutPrefix(n, ".")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, tempSuffix)
	if !ok || len(rest) < 14 || rest[len(rest)-13] != '.' {
		return false
	}
	for _, c := range rest[len(rest)-12:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (f *FS) sweepTrash(_ context.Context, g Group) (int, error) {
	gfd, err := f.openGroup(g, false)
	if err != nil {
		if notExist(err) {
			return 0, nil
		}
		return 0, err
	}
	defer syscall.Close(gfd)
	return f.removeTrash(gfd), nil
}

func (r readOnlyFS) sweepTemp(context.Context, Group, string) (int, error) { return 0, ErrReadOnly }
func (r readOnlyFS) sweepTrash(context.Context, Group) (int, error)        { return 0, ErrReadOnly }
