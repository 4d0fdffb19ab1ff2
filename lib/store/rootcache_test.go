package store

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRootFollowsTheStorePath: the store directory is kept open, but a
// store removed and made again, or moved away and replaced, is followed:
// at once when removed, after rootRecheck when replaced.
func TestRootFollowsTheStorePath(t *testing.T) {
	tests := []struct {
		name    string
		recheck time.Duration
		replace func(t *testing.T, dir string)
	}{
		{"removed and made again", time.Hour, func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}},
		{"moved away and replaced", 0, func(t *testing.T, dir string) {
			if err := os.Rename(dir, dir+".old"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := storeWithOld(t, tt.recheck)
			ctx := t.Context()
			tt.replace(t, dir)
			if _, err := Open(ctx, dir); err != nil { // a new store at the same path
				t.Fatal(err)
			}
			if _, err := s.Read(ctx, GroupStaging, "a.org", "x.txt"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("read through the old directory: %v", err)
			}
			if err := s.Write(ctx, GroupStaging, "a.org", "x.txt", []byte("new")); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(dir + "/staging/a.org/x.txt"); err != nil || string(got) != "new" {
				t.Fatalf("write went elsewhere: %q %v", got, err)
			}
		})
	}
}

// TestRootCacheReleases: a descriptor handed out stays open until released
// even when the cache gives the directory up meanwhile.
func TestRootCacheReleases(t *testing.T) {
	s, _ := openTemp(t)
	f := s.Backend().(*FS)
	fd, release, err := f.root.get(f, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var st fsStat
	if err := fstat(fd, &st); err != nil {
		t.Fatalf("descriptor closed while in use: %v", err)
	}
	release()
	if _, err := s.Read(t.Context(), GroupStaging, "none", "x.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Close: %v", err)
	}
}

type fsStat = syscall.Stat_t

func fstat(fd int, st *fsStat) error { return syscall.Fstat(fd, st) }

// TestRootReadAfterRemoval: a file read checks the store directory's
// removal only every rootRecheck; after that it reads the store made
// again at the path, not the removed directory.
func TestRootReadAfterRemoval(t *testing.T) {
	for _, tt := range []struct {
		name    string
		recheck time.Duration
		want    string // "" for not found
	}{
		{"within rootRecheck", time.Hour, ""},
		{"after rootRecheck", 0, "new"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := storeWithOld(t, tt.recheck)
			ctx := t.Context()
			if _, err := s.Read(ctx, GroupStaging, "a.org", "x.txt"); err != nil { // the directory is open
				t.Fatal(err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			n, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Write(ctx, GroupStaging, "a.org", "x.txt", []byte("new")); err != nil {
				t.Fatal(err)
			}
			got, err := s.Read(ctx, GroupStaging, "a.org", "x.txt")
			switch {
			case tt.want == "" && !errors.Is(err, fs.ErrNotExist):
				t.Fatalf("read = %q, %v; want the removed directory's not-found", got, err)
			case tt.want != "" && (err != nil || string(got) != tt.want):
				t.Fatalf("read = %q, %v; want %q from the store made again", got, err, tt.want)
			}
		})
	}
}

// storeWithOld opens a store in a temp dir with the given rootRecheck and
// writes staging/a.org/x.txt "old" through it.
func storeWithOld(t *testing.T, recheck time.Duration) (*Store, string) {
	t.Helper()
	s, dir := openTemp(t)
	s.Backend().(*FS).root.recheck = recheck
	if err := s.Write(t.Context(), GroupStaging, "a.org", "x.txt", []byte("old")); err != nil {
		t.Fatal(err)
	}
	return s, dir
}
