// Package store owns the on-disk store shared by every md-* command. Its
// layout and file formats are those of Apache mod_md's MDStoreDir, so a store
// written by mod_md can be taken over and mod_md can serve certificates from
// a store these tools wrote.
//
// Commands use a *Store, which adds typed access (md.json, job.json, keys,
// certificate chains) and key encryption on top of a small Backend
// interface. The filesystem (FS) is the default backend; nothing above this
// package may assume a local path or assert *FS: what needs a local
// directory asks for a capability (LocalDir, Owner) instead.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Group is a top-level directory of the store.
type Group string

// The store groups, as mod_md names them. GroupRoot holds md_store.json and
// httpd.json directly under the store directory.
const (
	GroupRoot       Group = ""
	GroupAccounts   Group = "accounts"
	GroupChallenges Group = "challenges"
	GroupDomains    Group = "domains"
	GroupStaging    Group = "staging"
	GroupArchive    Group = "archive"
	GroupTmp        Group = "tmp"
	GroupOCSP       Group = "ocsp"
)

// Groups lists the groups in mod_md's order.
var Groups = []Group{GroupAccounts, GroupChallenges, GroupDomains, GroupStaging, GroupArchive, GroupTmp, GroupOCSP}

// Well-known file names.
const (
	FileStore       = "md_store.json"
	FileHTTPD       = "httpd.json"
	FileMD          = "md.json"
	FileJob         = "job.json"
	FileOrder       = "order.json"
	FileAccount     = "account.json"
	FileAccountKey  = "account.pem"
	FileHTTP01      = "acme-http-01.txt"
	fileSuperseded  = ".superseded"
	storeVersion    = 3
	storeKeyLen     = 48
	defaultLockWait = 5 * time.Second
)

// Errors callers match with errors.Is. A missing file is fs.ErrNotExist.
var (
	ErrLocked  = errors.New("store: locked by another run")
	ErrBadName = errors.New("store: invalid name")
)

// Backend is the storage the Store sits on: the local filesystem now, a
// distributed key-value store later. Names and files are validated by the
// Store before they reach a backend; a backend still refuses unsafe ones.
// Every method takes the caller's context: a network backend bounds its
// requests by it; the filesystem backend only uses it while waiting for a
// lock (its system calls are not interruptible). What only some backends
// can do is a capability (LocalDir, Owner). Any backend must pass the
// conformance suite in lib/store/storetest.
type Backend interface {
	// Read returns a file's content, or an error wrapping fs.ErrNotExist.
	Read(ctx context.Context, g Group, name, file string) ([]byte, error)
	// Write replaces a file atomically: readers see the old or the new
	// content, never a mix, even if the process dies mid-write.
	Write(ctx context.Context, g Group, name, file string, data []byte) error
	// ModTime reports a file's modification time; file "" means the set
	// itself. A missing one is fs.ErrNotExist.
	ModTime(ctx context.Context, g Group, name, file string) (time.Time, error)
	// List returns the names (sets) in a group, sorted.
	List(ctx context.Context, g Group) ([]string, error)
	// ListFiles returns the files of one set, sorted.
	ListFiles(ctx context.Context, g Group, name string) ([]string, error)
	// Remove deletes one file; a missing file is not an error.
	Remove(ctx context.Context, g Group, name, file string) error
	// Purge deletes a whole set; a missing set is not an error.
	Purge(ctx context.Context, g Group, name string) error
	// Move renames a set; it fails if the target exists.
	Move(ctx context.Context, from Group, fromName string, to Group, toName string) error
	// Exchange swaps two existing sets atomically.
	Exchange(ctx context.Context, g1 Group, n1 string, g2 Group, n2 string) error
	// Lock takes an exclusive lock; name "" is the store-wide lock. It
	// waits up to wait, then returns ErrLocked.
	Lock(ctx context.Context, name string, wait time.Duration) (unlock func(), err error)
}

// Store is the typed view of a store that commands use.
type Store struct {
	b    Backend
	pass []byte // passphrase for encrypted keys, from md_store.json
	dir  string // for messages only
	keys *keyCache
}

// Open opens (creating if needed) the filesystem store at dir.
func Open(ctx context.Context, dir string) (*Store, error) {
	fsb, err := NewFS(dir)
	if err != nil {
		return nil, err
	}
	return OpenBackend(ctx, fsb, dir)
}

// OpenBackend opens a store on any backend; desc names it in messages.
func OpenBackend(ctx context.Context, b Backend, desc string) (*Store, error) {
	s := &Store{b: b, dir: desc, keys: &keyCache{}}
	pass, err := s.loadOrCreateKey(ctx)
	if err != nil {
		return nil, err
	}
	s.pass = pass
	return s, nil
}

// Backend returns the underlying backend.
func (s *Store) Backend() Backend { return s.b }

// String names the store for messages.
func (s *Store) String() string { return s.dir }

// DefaultDir is where the store lives when neither the config nor a flag
// says: $MD_STORE, else /var/lib/mdtools for root, else
// $XDG_STATE_HOME/mdtools (default ~/.local/state/mdtools).
func DefaultDir() string {
	if d := os.Getenv("MD_STORE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/mdtools"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mdtools")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "mdtools")
	}
	return "mdtools-store"
}

// Exists reports whether a file exists.
func (s *Store) Exists(ctx context.Context, g Group, name, file string) bool {
	_, err := s.b.ModTime(ctx, g, name, file)
	return err == nil
}

// ModTime reports when a file was last written (file "" means the set
// itself), after validating the names. A missing one is fs.ErrNotExist.
func (s *Store) ModTime(ctx context.Context, g Group, name, file string) (time.Time, error) {
	if err := checkNames(g, name, file); err != nil {
		return time.Time{}, err
	}
	return s.b.ModTime(ctx, g, name, file)
}

// Read returns a file's content after validating the names.
func (s *Store) Read(ctx context.Context, g Group, name, file string) ([]byte, error) {
	if err := checkNames(g, name, file); err != nil {
		return nil, err
	}
	return s.b.Read(ctx, g, name, file)
}

// Write replaces a file atomically after validating the names.
func (s *Store) Write(ctx context.Context, g Group, name, file string, data []byte) error {
	if err := checkNames(g, name, file); err != nil {
		return err
	}
	return s.b.Write(ctx, g, name, file, data)
}

// List returns the sets in a group.
func (s *Store) List(ctx context.Context, g Group) ([]string, error) { return s.b.List(ctx, g) }

// ListFiles returns the files of a set.
func (s *Store) ListFiles(ctx context.Context, g Group, name string) ([]string, error) {
	if err := checkNames(g, name, ""); err != nil {
		return nil, err
	}
	return s.b.ListFiles(ctx, g, name)
}

// Remove deletes a file.
func (s *Store) Remove(ctx context.Context, g Group, name, file string) error {
	if err := checkNames(g, name, file); err != nil {
		return err
	}
	return s.b.Remove(ctx, g, name, file)
}

// Purge deletes a set.
func (s *Store) Purge(ctx context.Context, g Group, name string) error {
	if err := checkNames(g, name, ""); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: refusing to purge a whole group", ErrBadName)
	}
	return s.b.Purge(ctx, g, name)
}

// Move renames a set (for MD renames and staging moves).
func (s *Store) Move(ctx context.Context, from Group, fromName string, to Group, toName string) error {
	if err := checkNames(from, fromName, ""); err != nil {
		return err
	}
	if err := checkNames(to, toName, ""); err != nil {
		return err
	}
	return s.b.Move(ctx, from, fromName, to, toName)
}

// Lock takes the per-MD lock for name, or the store-wide lock for "". A
// wait of 0 means the default of 5 s; a negative wait tries once.
func (s *Store) Lock(ctx context.Context, name string, wait time.Duration) (func(), error) {
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, err
		}
	}
	if wait == 0 {
		wait = defaultLockWait
	}
	return s.b.Lock(ctx, name, wait)
}

// notExist reports whether err means a missing file.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
