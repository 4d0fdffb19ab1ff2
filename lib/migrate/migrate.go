// Package migrate moves a whole store from one backend to another (a
// directory to etcd, etcd to a directory, or between two of either kind)
// without asking any CA for anything: accounts, live certificates and
// keys (domains), staged sets (staging), archived sets (archive), job
// logs, OCSP responses, challenges, tmp, and the root files (md_store.json
// with its store key, httpd.json, ari-*.json, revoked-*.json) are copied
// file by file through the store.Backend interface, so that each backend
// applies its own rules on the way in: the filesystem its modes (private
// keys 0600), etcd its value envelope with private keys sealed under the
// node key.
//
// The copy runs under the locks of both stores (the store-wide lock and
// every MD's lock), refuses a destination that holds anything unless told
// to merge, and reads every file back from the destination afterwards
// (Verify): the bytes must be those of the source, or, for a key that was
// re-encrypted for another store key, the same key.
//
// What is not copied: lock files and lock keys (each store has its own),
// and modification times (every file is new in the destination).
package migrate

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/store"
)

// Options steer a copy.
type Options struct {
	// Merge allows a destination that holds data already: files it lacks
	// are copied, files it has with the same content are left, files it
	// has with other content are conflicts (left as they are unless
	// Overwrite).
	Merge bool
	// Overwrite, with Merge, replaces conflicting files with the source's.
	Overwrite bool
	// DryRun reads both stores and reports what would be copied; it
	// writes nothing and takes no lock.
	DryRun bool
	// Wait is how long to wait for each lock (0: the store's default).
	Wait time.Duration
}

// GroupCount is what one group held and what the copy did with it.
type GroupCount struct {
	Sets      int   `json:"sets"`      // sets in the source
	Files     int   `json:"files"`     // files in the source
	Bytes     int64 `json:"bytes"`     // their size in the source
	Copied    int   `json:"copied"`    // files written to the destination
	Unchanged int   `json:"unchanged"` // files the destination had already (merge)
	Conflicts int   `json:"conflicts"` // files the destination has with other content
	// Reencrypted counts keys encrypted anew for the destination's store
	// key (merge into a store with its own md_store.json).
	Reencrypted int `json:"reencrypted,omitempty"`
}

// Report is the result of a copy, printed as JSON.
type Report struct {
	Source      string                 `json:"source"`
	Destination string                 `json:"destination"`
	DryRun      bool                   `json:"dry-run,omitempty"`
	Merge       bool                   `json:"merge,omitempty"`
	Groups      map[string]*GroupCount `json:"groups"` // "root", "accounts", "domains", ...
	Total       GroupCount             `json:"total"`
	// Conflicts names each conflicting file, group/set/file.
	Conflicts []string `json:"conflicts,omitempty"`
	// Verified counts the files read back from the destination and found
	// equal to the source's (every source file unless DryRun).
	Verified int `json:"verified"`
	// StoreKey says what became of md_store.json: "copied", "same" (the
	// destination had the same key) or "kept" (the destination keeps its
	// own key; encrypted keys were re-encrypted for it).
	StoreKey string `json:"store-key"`
}

// ErrNotEmpty is returned when the destination holds data and Merge is off.
var ErrNotEmpty = errors.New("the destination store is not empty")

// ErrNotStore is returned when the source has no md_store.json.
var ErrNotStore = errors.New("the source is not a store (no md_store.json)")

// ErrVerify is returned when a file read back differs from the source.
var ErrVerify = errors.New("verification failed")

// lockFile is the filesystem backend's store-wide lock file, which its
// ListFiles shows among the root files; it is never copied.
const lockFile = "store.lock"

// rootName is the key of the root files in Report.Groups.
const rootName = "root"

// file is one file of a store.
type file struct {
	g          store.Group
	name, file string
}

func (f file) String() string {
	if f.g == store.GroupRoot {
		return f.file
	}
	return string(f.g) + "/" + f.name + "/" + f.file
}

// copier is one copy in progress.
type copier struct {
	src, dst       store.Backend
	srcSt, dstSt   *store.Store // typed views, for re-encryption only
	o              Options
	rep            *Report
	reencrypt      bool
	written        map[file][]byte // what was written (for Verify): nil for a re-encrypted key
	srcDesc, dDesc string
}

// Copy copies every file of src into dst. Both backends must be open
// read-write (locks are taken on both); srcDesc and dstDesc name them in
// the report. A destination with data is refused (ErrNotEmpty) unless
// o.Merge. The returned report is complete also when err is ErrVerify or
// conflicts were left.
func Copy(ctx context.Context, src, dst store.Backend, srcDesc, dstDesc string, o Options) (*Report, error) {
	c := &copier{src: src, dst: dst, o: o, srcDesc: srcDesc, dDesc: dstDesc, written: map[file][]byte{},
		rep: &Report{Source: srcDesc, Destination: dstDesc, DryRun: o.DryRun, Merge: o.Merge, Groups: map[string]*GroupCount{}}}
	if _, err := src.Read(ctx, store.GroupRoot, "", store.FileStore); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", srcDesc, ErrNotStore)
		}
		return nil, fmt.Errorf("%s: %w", srcDesc, err)
	}
	if !o.DryRun {
		unlock, err := c.lockAll(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	files, err := listAll(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", srcDesc, err)
	}
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := c.copyFile(ctx, f); err != nil {
			return c.rep, fmt.Errorf("copying %s: %w", f, err)
		}
	}
	c.count(files)
	if o.DryRun {
		return c.rep, nil
	}
	if err := c.verify(ctx, files); err != nil {
		return c.rep, err
	}
	return c.rep, nil
}

// lockAll takes the store-wide lock and every MD's lock (the MDs of
// domains and staging, and the account registration lock) in both stores,
// so that no md-order, md-install or md-parse changes either meanwhile.
func (c *copier) lockAll(ctx context.Context) (func(), error) {
	var unlocks []func()
	release := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	names := []string{""}
	for _, b := range []store.Backend{c.src, c.dst} {
		for _, g := range []store.Group{store.GroupDomains, store.GroupStaging} {
			sets, err := b.List(ctx, g)
			if err != nil {
				return nil, err
			}
			names = append(names, sets...)
		}
	}
	slices.Sort(names[1:])
	names = append(slices.Compact(names), "_accounts")
	wait := c.o.Wait
	if wait == 0 {
		wait = 5 * time.Second
	}
	for _, side := range []struct {
		b    store.Backend
		desc string
	}{{c.src, c.srcDesc}, {c.dst, c.dDesc}} {
		for _, n := range names {
			unlock, err := side.b.Lock(ctx, n, wait)
			if err != nil {
				release()
				return nil, fmt.Errorf("%s: %w", side.desc, err)
			}
			unlocks = append(unlocks, unlock)
		}
	}
	return release, nil
}

// listAll lists every file of a store: the root files first (md_store.json
// before all others, so that a destination is a store as soon as it holds
// anything), then each group's sets in mod_md's order.
func listAll(ctx context.Context, b store.Backend) ([]file, error) {
	root, err := b.ListFiles(ctx, store.GroupRoot, "")
	if err != nil {
		return nil, err
	}
	files := []file{{g: store.GroupRoot, file: store.FileStore}}
	for _, f := range root {
		// a memo caches this store's own files: the copy would never match
		if f != store.FileStore && f != lockFile && !memo.IsFile(f) && store.CheckNames(store.GroupRoot, "", f) == nil {
			files = append(files, file{g: store.GroupRoot, file: f})
		}
	}
	for _, g := range store.Groups {
		sets, err := b.List(ctx, g)
		if err != nil {
			return nil, err
		}
		for _, s := range sets {
			names, err := b.ListFiles(ctx, g, s)
			if err != nil {
				return nil, err
			}
			names = withSuperseded(ctx, b, g, s, names)
			for _, n := range names {
				files = append(files, file{g: g, name: s, file: n})
			}
		}
	}
	return files, nil
}

// superseded is the marker store.Promote leaves in a set it is replacing;
// the filesystem lists no dot files, so it is looked for by name.
const superseded = ".superseded"

func withSuperseded(ctx context.Context, b store.Backend, g store.Group, s string, names []string) []string {
	if slices.Contains(names, superseded) {
		return names
	}
	if _, err := b.Read(ctx, g, s, superseded); err == nil {
		names = append(names, superseded)
		sort.Strings(names)
	}
	return names
}

// prepare checks the destination and decides what becomes of the store
// key: an empty destination gets the source's md_store.json (and with it
// every encrypted key as it is); a merge into a store with its own key
// re-encrypts the source's encrypted keys for it.
func (c *copier) prepare(ctx context.Context) error {
	dstFiles, err := listAll(ctx, c.dst)
	if err != nil {
		return fmt.Errorf("listing %s: %w", c.dDesc, err)
	}
	dstKey, err := c.dst.Read(ctx, store.GroupRoot, "", store.FileStore)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", c.dDesc, err)
	}
	// listAll names md_store.json first, present or not. A store that
	// holds nothing else (a command opened it once) is empty: no key
	// depends on its store key, the source's replaces it.
	dstFiles = dstFiles[1:]
	if len(dstFiles) == 0 {
		dstKey = nil
	}
	if len(dstFiles) > 0 && !c.o.Merge {
		return fmt.Errorf("%s holds %d files (%s, ...): %w; copy into an empty store, or pass --merge",
			c.dDesc, len(dstFiles), dstFiles[0], ErrNotEmpty)
	}
	srcKey, err := c.src.Read(ctx, store.GroupRoot, "", store.FileStore)
	if err != nil {
		return fmt.Errorf("%s: %w", c.srcDesc, err)
	}
	switch {
	case dstKey == nil:
		c.rep.StoreKey = "copied"
	case bytes.Equal(dstKey, srcKey):
		c.rep.StoreKey = "same"
	default:
		c.rep.StoreKey = "kept"
		c.reencrypt = true
		c.srcSt, err = store.OpenBackend(ctx, c.src, c.srcDesc)
		if err == nil {
			c.dstSt, err = store.OpenBackend(ctx, c.dst, c.dDesc)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// encryptedKey reports whether data is a key encrypted with the store key.
func encryptedKey(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
}

func (c *copier) group(g store.Group) *GroupCount {
	k := string(g)
	if g == store.GroupRoot {
		k = rootName
	}
	gc := c.rep.Groups[k]
	if gc == nil {
		gc = &GroupCount{}
		c.rep.Groups[k] = gc
	}
	return gc
}

// copyFile copies one file, unless the destination has it already.
func (c *copier) copyFile(ctx context.Context, f file) error {
	gc := c.group(f.g)
	data, err := c.src.Read(ctx, f.g, f.name, f.file)
	if err != nil {
		return err
	}
	gc.Files++
	gc.Bytes += int64(len(data))
	if f.g == store.GroupRoot && f.file == store.FileStore {
		if c.rep.StoreKey != "copied" {
			gc.Unchanged++ // the destination keeps its store key
			return nil
		}
		gc.Copied++
		c.written[f] = data
		if c.o.DryRun {
			return nil
		}
		return c.dst.Write(ctx, f.g, f.name, f.file, data)
	}
	reenc := c.reencrypt && encryptedKey(data)
	have, err := c.dst.Read(ctx, f.g, f.name, f.file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case c.same(ctx, f, data, have, reenc):
		gc.Unchanged++
		return nil
	default:
		gc.Conflicts++
		c.rep.Conflicts = append(c.rep.Conflicts, f.String())
		if !c.o.Overwrite {
			return nil
		}
	}
	gc.Copied++
	if reenc {
		gc.Reencrypted++
	}
	if c.o.DryRun {
		return nil
	}
	if !reenc {
		c.written[f] = data
		return c.dst.Write(ctx, f.g, f.name, f.file, data)
	}
	key, err := c.srcSt.LoadKey(ctx, f.g, f.name, f.file)
	if err != nil {
		return err
	}
	c.written[f] = nil
	return c.dstSt.SaveKey(ctx, f.g, f.name, f.file, key)
}

// same reports whether the destination's file holds what the source's
// does: the same bytes, or, for keys encrypted under two store keys, the
// same key.
func (c *copier) same(ctx context.Context, f file, data, have []byte, reenc bool) bool {
	if bytes.Equal(data, have) {
		return true
	}
	if !reenc || !encryptedKey(have) {
		return false
	}
	return c.sameKey(ctx, f)
}

func (c *copier) sameKey(ctx context.Context, f file) bool {
	a, err := c.srcSt.LoadKey(ctx, f.g, f.name, f.file)
	if err != nil {
		return false
	}
	b, err := c.dstSt.LoadKey(ctx, f.g, f.name, f.file)
	if err != nil {
		return false
	}
	ea, ok := a.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && ea.Equal(b)
}

// count fills in the sets per group and the totals.
func (c *copier) count(files []file) {
	sets := map[string]bool{}
	for _, f := range files {
		if f.g != store.GroupRoot && !sets[string(f.g)+"/"+f.name] {
			sets[string(f.g)+"/"+f.name] = true
			c.group(f.g).Sets++
		}
	}
	t := &c.rep.Total
	for _, gc := range c.rep.Groups {
		t.Sets += gc.Sets
		t.Files += gc.Files
		t.Bytes += gc.Bytes
		t.Copied += gc.Copied
		t.Unchanged += gc.Unchanged
		t.Conflicts += gc.Conflicts
		t.Reencrypted += gc.Reencrypted
	}
}

// verify reads every source file back from the destination: the bytes
// written (or, for a conflict left alone, nothing is checked but its
// presence), or for a re-encrypted key the same key.
func (c *copier) verify(ctx context.Context, files []file) error {
	var bad []string
	for _, f := range files {
		have, err := c.dst.Read(ctx, f.g, f.name, f.file)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		want, wrote := c.written[f]
		switch {
		case wrote && want == nil:
			if !c.sameKey(ctx, f) {
				bad = append(bad, f.String()+": not the source's key")
				continue
			}
		case wrote && !bytes.Equal(have, want):
			bad = append(bad, f.String()+": content differs from the source's")
			continue
		}
		c.rep.Verified++
	}
	if !c.o.Merge {
		// a copy into an empty store: the destination holds exactly the
		// source's files
		got, err := listAll(ctx, c.dst)
		if err != nil {
			return err
		}
		if len(got) != len(files) {
			bad = append(bad, fmt.Sprintf("the destination lists %d files, the source %d", len(got), len(files)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %d of %d files in %s: %s", ErrVerify, len(bad), len(files), c.dDesc, strings.Join(bad, "; "))
	}
	return nil
}
