package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrReadOnly is returned by every mutating call on a store opened with
// OpenReadOnly.
var ErrReadOnly = errors.New("store: opened read-only")

// readOnlyFS is the filesystem backend without any write: it creates no
// directory, no md_store.json and no lock file, so that a reporting
// command (md-status) can run as a user who may only read the store.
type readOnlyFS struct{ fs FS }

var _ Backend = readOnlyFS{}

func (r readOnlyFS) Read(ctx context.Context, g Group, name, file string) ([]byte, error) {
	return r.fs.Read(ctx, g, name, file)
}
func (r readOnlyFS) ModTime(ctx context.Context, g Group, name, file string) (time.Time, error) {
	return r.fs.ModTime(ctx, g, name, file)
}
func (r readOnlyFS) List(ctx context.Context, g Group) ([]string, error) { return r.fs.List(ctx, g) }
func (r readOnlyFS) ListFiles(ctx context.Context, g Group, name string) ([]string, error) {
	return r.fs.ListFiles(ctx, g, name)
}
func (readOnlyFS) Write(context.Context, Group, string, string, []byte) error   { return ErrReadOnly }
func (readOnlyFS) Remove(context.Context, Group, string, string) error          { return ErrReadOnly }
func (readOnlyFS) Purge(context.Context, Group, string) error                   { return ErrReadOnly }
func (readOnlyFS) Move(context.Context, Group, string, Group, string) error     { return ErrReadOnly }
func (readOnlyFS) Exchange(context.Context, Group, string, Group, string) error { return ErrReadOnly }
func (readOnlyFS) Lock(context.Context, string, time.Duration) (func(), error) {
	return nil, ErrReadOnly
}

// Initialized reports whether dir holds a store already (its
// md_store.json), without creating or changing anything: a dry run must not
// create a store.
func Initialized(ctx context.Context, dir string) bool {
	ro, err := OpenReadOnly(dir)
	return err == nil && ro.Exists(ctx, GroupRoot, "", FileStore)
}

// OpenReadOnly opens an existing filesystem store for reading only. It
// neither creates nor changes anything (not even md_store.json), and does
// not load the store key, so encrypted keys cannot be read through it.
func OpenReadOnly(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: no store directory given")
	}
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("opening store: %s is not a directory", dir)
	}
	return &Store{b: readOnlyFS{fs: FS{dir: dir, root: newRootCache()}}, dir: dir}, nil
}

// readOnly is any backend without its writes (see readOnlyFS).
type readOnly struct{ b Backend }

var _ Backend = readOnly{}

func (r readOnly) Read(ctx context.Context, g Group, name, file string) ([]byte, error) {
	return r.b.Read(ctx, g, name, file)
}
func (r readOnly) ModTime(ctx context.Context, g Group, name, file string) (time.Time, error) {
	return r.b.ModTime(ctx, g, name, file)
}
func (r readOnly) List(ctx context.Context, g Group) ([]string, error) { return r.b.List(ctx, g) }
func (r readOnly) ListFiles(ctx context.Context, g Group, name string) ([]string, error) {
	return r.b.ListFiles(ctx, g, name)
}
func (readOnly) Write(context.Context, Group, string, string, []byte) error   { return ErrReadOnly }
func (readOnly) Remove(context.Context, Group, string, string) error          { return ErrReadOnly }
func (readOnly) Purge(context.Context, Group, string) error                   { return ErrReadOnly }
func (readOnly) Move(context.Context, Group, string, Group, string) error     { return ErrReadOnly }
func (readOnly) Exchange(context.Context, Group, string, Group, string) error { return ErrReadOnly }
func (readOnly) Lock(context.Context, string, time.Duration) (func(), error) {
	return nil, ErrReadOnly
}

// Close closes the backend underneath.
func (r readOnly) Close() error {
	if c, ok := r.b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// OpenBackendReadOnly is OpenReadOnly on any backend: nothing is created
// or changed, and the store key is not loaded.
func OpenBackendReadOnly(b Backend, desc string) *Store {
	return &Store{b: readOnly{b: b}, dir: desc}
}

// Close releases what the store's backend holds (for a network backend:
// its connection, and the locks of this handle). A filesystem store has
// nothing to close.
func (s *Store) Close() error {
	if c, ok := s.b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
