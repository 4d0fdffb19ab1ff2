// Package storetest is the conformance suite every store.Backend must
// pass: the filesystem backend runs it in lib/store, and a second backend
// (etcd) calls Run from its own tests. It checks what the commands rely on
// and what the Backend documentation promises: atomic writes, listing,
// moves and exchanges of sets, removes, locks and the refusal of unsafe
// names (Run, for every backend); the refusal of symbolic links (RunLinks,
// for backends whose stores are files); the release of locks when a handle
// is closed (RunClose, for backends whose handles are network clients).
// Nothing is skipped: a backend runs the parts that apply to it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
)

// Harness tells the suite how to make stores on the backend under test.
type Harness struct {
	// New makes an empty store and returns a function that opens a new,
	// independent handle on it (for the filesystem: NewFS on the same
	// directory; for a network store: a new client). Locks are tested
	// across two handles.
	New func(t *testing.T) (open func() store.Backend)
	// Link, for backends whose stores can hold symbolic links (RunLinks),
	// plants one at g/name (file "") or g/name/file pointing to the local
	// path target, in the store that b is a handle on.
	Link func(t *testing.T, b store.Backend, g store.Group, name, file, target string)
	// Outside, with Link, returns a fresh local directory outside every
	// store for link targets (t.TempDir when nil).
	Outside func(t *testing.T) string
}

// Run runs the backend-general suite, one subtest per property.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"WriteRead", testWriteRead},
		{"AtomicWrite", testAtomicWrite},
		{"List", testList},
		{"Remove", testRemove},
		{"Move", testMove},
		{"Exchange", testExchange},
		{"ExchangeAtomic", testExchangeAtomic},
		{"LockExclusive", testLockExclusive},
		{"LockCancel", testLockCancel},
		{"LockHandover", testLockHandover},
		{"UnlockTwice", testUnlockTwice},
		{"NamesRefused", testNamesRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// RunLinks runs the tests for backends whose stores are files, which can
// hold symbolic links (h.Link is required).
func RunLinks(t *testing.T, h Harness) {
	if h.Link == nil {
		t.Fatal("storetest.RunLinks needs Harness.Link")
	}
	t.Run("LinksRefused", func(t *testing.T) { testLinksRefused(t, h) })
}

// RunClose runs the tests for backends whose handles are closed (network
// clients, io.Closer).
func RunClose(t *testing.T, h Harness) {
	t.Run("LockClose", func(t *testing.T) { testLockClose(t, h) })
}

func mustWrite(t *testing.T, b store.Backend, g store.Group, name, file, data string) {
	t.Helper()
	if err := b.Write(t.Context(), g, name, file, []byte(data)); err != nil {
		t.Fatalf("Write %s/%s/%s: %v", g, name, file, err)
	}
}

func wantContent(t *testing.T, b store.Backend, g store.Group, name, file, want string) {
	t.Helper()
	got, err := b.Read(t.Context(), g, name, file)
	if err != nil || string(got) != want {
		t.Errorf("Read %s/%s/%s = %q, %v; want %q", g, name, file, got, err, want)
	}
}

func wantMissing(t *testing.T, b store.Backend, g store.Group, name, file string) {
	t.Helper()
	if got, err := b.Read(t.Context(), g, name, file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read %s/%s/%s = %q, %v; want fs.ErrNotExist", g, name, file, got, err)
	}
}

func testWriteRead(t *testing.T, h Harness) {
	ctx := t.Context()
	open := h.New(t)
	b := open()
	wantMissing(t, b, store.GroupDomains, "a.org", store.FileMD)
	if _, err := b.ModTime(ctx, store.GroupDomains, "a.org", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ModTime of a missing set: %v, want fs.ErrNotExist", err)
	}
	mustWrite(t, b, store.GroupDomains, "a.org", store.FileMD, "one")
	mustWrite(t, b, store.GroupDomains, "a.org", store.FileMD, "two")
	wantContent(t, b, store.GroupDomains, "a.org", store.FileMD, "two")
	mustWrite(t, b, store.GroupRoot, "", store.FileHTTPD, "root file")
	wantContent(t, b, store.GroupRoot, "", store.FileHTTPD, "root file")
	mustWrite(t, b, store.GroupDomains, "a.org", "empty.pem", "")
	wantContent(t, b, store.GroupDomains, "a.org", "empty.pem", "")
	for _, file := range []string{store.FileMD, ""} {
		mt, err := b.ModTime(ctx, store.GroupDomains, "a.org", file)
		if err != nil || mt.IsZero() || time.Since(mt) > time.Hour || time.Until(mt) > time.Hour {
			t.Errorf("ModTime(a.org, %q) = %v, %v; want about now", file, mt, err)
		}
	}
	// a second handle sees what the first wrote
	wantContent(t, open(), store.GroupDomains, "a.org", store.FileMD, "two")
}

// testAtomicWrite: readers racing a writer see one whole version or the
// other, never a mix, a truncated file or a missing one.
func testAtomicWrite(t *testing.T, h Harness) {
	open := h.New(t)
	w, r := open(), open()
	const size = 256 << 10
	versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size/2)}
	if err := w.Write(t.Context(), store.GroupStaging, "a.org", "pubcert.pem", versions[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := r.Read(context.Background(), store.GroupStaging, "a.org", "pubcert.pem")
				if err != nil || !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					mu.Lock()
					bad = append(bad, describe(got, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range 200 {
		if err := w.Write(t.Context(), store.GroupStaging, "a.org", "pubcert.pem", versions[(i+1)%2]); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d reads saw neither whole version, first: %s", len(bad), bad[0])
	}
	files, err := w.ListFiles(t.Context(), store.GroupStaging, "a.org")
	if err != nil || !slices.Equal(files, []string{"pubcert.pem"}) {
		t.Errorf("after 200 writes the set holds %q, %v; want only pubcert.pem (no temp files)", files, err)
	}
}

func describe(got []byte, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	n := min(len(got), 8)
	return "a read of " + itoa(len(got)) + " bytes starting " + string(got[:n])
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

func testList(t *testing.T, h Harness) {
	ctx := t.Context()
	b := h.New(t)()
	if names, err := b.List(ctx, store.GroupDomains); err != nil || len(names) != 0 {
		t.Errorf("List of an empty group = %q, %v; want none", names, err)
	}
	if files, err := b.ListFiles(ctx, store.GroupDomains, "none.org"); err != nil || len(files) != 0 {
		t.Errorf("ListFiles of a missing set = %q, %v; want none", files, err)
	}
	for _, n := range []string{"c.org", "a.org", "*.b.org", "ACME-localhost-0000", "a.org.2"} {
		mustWrite(t, b, store.GroupDomains, n, store.FileMD, n)
	}
	mustWrite(t, b, store.GroupDomains, "a.org", "privkey.pem", "k")
	mustWrite(t, b, store.GroupDomains, "a.org", store.FileJob, "j")
	mustWrite(t, b, store.GroupStaging, "z.org", store.FileMD, "z")
	mustWrite(t, b, store.GroupRoot, "", store.FileHTTPD, "h")
	names, err := b.List(ctx, store.GroupDomains)
	want := []string{"*.b.org", "ACME-localhost-0000", "a.org", "a.org.2", "c.org"}
	if err != nil || !slices.Equal(names, want) {
		t.Errorf("List(domains) = %q, %v; want %q (sorted, other groups apart)", names, err, want)
	}
	files, err := b.ListFiles(ctx, store.GroupDomains, "a.org")
	if want := []string{store.FileJob, store.FileMD, "privkey.pem"}; err != nil || !slices.Equal(files, want) {
		t.Errorf("ListFiles(domains/a.org) = %q, %v; want %q", files, err, want)
	}
}

func testRemove(t *testing.T, h Harness) {
	ctx := t.Context()
	b := h.New(t)()
	mustWrite(t, b, store.GroupChallenges, "a.org", store.FileHTTP01, "x")
	mustWrite(t, b, store.GroupChallenges, "a.org", "other.pem", "y")
	if err := b.Remove(ctx, store.GroupChallenges, "a.org", store.FileHTTP01); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, b, store.GroupChallenges, "a.org", store.FileHTTP01)
	wantContent(t, b, store.GroupChallenges, "a.org", "other.pem", "y")
	for _, c := range []struct{ name, file string }{{"a.org", store.FileHTTP01}, {"gone.org", store.FileHTTP01}} {
		if err := b.Remove(ctx, store.GroupChallenges, c.name, c.file); err != nil {
			t.Errorf("Remove of missing %s/%s: %v, want nil", c.name, c.file, err)
		}
	}
	mustWrite(t, b, store.GroupChallenges, "b.org", store.FileHTTP01, "b")
	if err := b.Purge(ctx, store.GroupChallenges, "a.org"); err != nil {
		t.Fatal(err)
	}
	if err := b.Purge(ctx, store.GroupChallenges, "a.org"); err != nil {
		t.Errorf("Purge of a missing set: %v, want nil", err)
	}
	if names, err := b.List(ctx, store.GroupChallenges); err != nil || !slices.Equal(names, []string{"b.org"}) {
		t.Errorf("after Purge(a.org) List = %q, %v; want [b.org]", names, err)
	}
	wantMissing(t, b, store.GroupChallenges, "a.org", "other.pem")
}

func testMove(t *testing.T, h Harness) {
	ctx := t.Context()
	b := h.New(t)()
	mustWrite(t, b, store.GroupStaging, "a.org", store.FileMD, "staged md")
	mustWrite(t, b, store.GroupStaging, "a.org", "pubcert.pem", "staged cert")
	if err := b.Move(ctx, store.GroupStaging, "a.org", store.GroupDomains, "a.org"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, b, store.GroupDomains, "a.org", store.FileMD, "staged md")
	wantContent(t, b, store.GroupDomains, "a.org", "pubcert.pem", "staged cert")
	if names, _ := b.List(ctx, store.GroupStaging); len(names) != 0 {
		t.Errorf("the moved set is still in staging: %q", names)
	}
	// renames within a group, as for a renamed MD
	if err := b.Move(ctx, store.GroupDomains, "a.org", store.GroupDomains, "b.org"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, b, store.GroupDomains, "b.org", store.FileMD, "staged md")
	// never over an existing set
	mustWrite(t, b, store.GroupStaging, "b.org", store.FileMD, "newer")
	if err := b.Move(ctx, store.GroupStaging, "b.org", store.GroupDomains, "b.org"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Move onto an existing set: %v, want fs.ErrExist", err)
	}
	wantContent(t, b, store.GroupDomains, "b.org", store.FileMD, "staged md")
	wantContent(t, b, store.GroupStaging, "b.org", store.FileMD, "newer")
	if err := b.Move(ctx, store.GroupStaging, "none.org", store.GroupDomains, "none.org"); err == nil {
		t.Error("Move of a missing set succeeded")
	}
}

func testExchange(t *testing.T, h Harness) {
	ctx := t.Context()
	b := h.New(t)()
	mustWrite(t, b, store.GroupTmp, "a.org", "pubcert.pem", "new")
	mustWrite(t, b, store.GroupTmp, "a.org", "only-new.pem", "n")
	mustWrite(t, b, store.GroupDomains, "a.org", "pubcert.pem", "old")
	if err := b.Exchange(ctx, store.GroupTmp, "a.org", store.GroupDomains, "a.org"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, b, store.GroupDomains, "a.org", "pubcert.pem", "new")
	wantContent(t, b, store.GroupDomains, "a.org", "only-new.pem", "n")
	wantContent(t, b, store.GroupTmp, "a.org", "pubcert.pem", "old")
	wantMissing(t, b, store.GroupTmp, "a.org", "only-new.pem")
	if err := b.Exchange(ctx, store.GroupTmp, "a.org", store.GroupDomains, "none.org"); err == nil {
		t.Error("Exchange with a missing set succeeded")
	}
	wantContent(t, b, store.GroupTmp, "a.org", "pubcert.pem", "old")
}

// testExchangeAtomic: a reader of the live set during repeated exchanges
// always finds one whole set, never none.
func testExchangeAtomic(t *testing.T, h Harness) {
	open := h.New(t)
	w, r := open(), open()
	mustWrite(t, w, store.GroupTmp, "a.org", "pubcert.pem", "one")
	mustWrite(t, w, store.GroupDomains, "a.org", "pubcert.pem", "two")
	done := make(chan struct{})
	var bad []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := r.Read(context.Background(), store.GroupDomains, "a.org", "pubcert.pem")
			if err != nil || string(got) != "one" && string(got) != "two" {
				bad = append(bad, describe(got, err))
			}
		}
	})
	for range 200 {
		if err := w.Exchange(t.Context(), store.GroupTmp, "a.org", store.GroupDomains, "a.org"); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d reads during exchanges saw no whole set, first: %s", len(bad), bad[0])
	}
}

func lock(t *testing.T, b store.Backend, name string) func() {
	t.Helper()
	unlock, err := b.Lock(t.Context(), name, -1)
	if err != nil {
		t.Fatalf("Lock(%q): %v", name, err)
	}
	return unlock
}

func testLockExclusive(t *testing.T, h Harness) {
	open := h.New(t)
	b1, b2 := open(), open()
	unlock := lock(t, b1, "a.org")
	if _, err := b2.Lock(t.Context(), "a.org", -1); !errors.Is(err, store.ErrLocked) {
		t.Errorf("second handle locked a.org while the first holds it: %v, want ErrLocked", err)
	}
	if _, err := b2.Lock(t.Context(), "a.org", time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Errorf("a bounded wait for a held lock: %v, want ErrLocked", err)
	}
	// other names and the store-wide lock are separate locks
	lock(t, b2, "b.org")()
	lock(t, b2, "")()
	unlock()
	lock(t, b2, "a.org")()
	// the store-wide lock excludes too
	unlockStore := lock(t, b1, "")
	if _, err := b2.Lock(t.Context(), "", -1); !errors.Is(err, store.ErrLocked) {
		t.Errorf("store lock taken twice: %v, want ErrLocked", err)
	}
	unlockStore()
}

// testUnlockTwice: calling an unlock function again is harmless (a
// deferred unlock after an explicit one) and releases nothing another
// holder took meanwhile.
func testUnlockTwice(t *testing.T, h Harness) {
	open := h.New(t)
	b1, b2 := open(), open()
	unlock := lock(t, b1, "a.org")
	unlock()
	done := make(chan struct{})
	go func() { unlock(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a second unlock blocked")
	}
	unlock2 := lock(t, b2, "a.org")
	unlock() // a third call must not release b2's lock
	if _, err := b1.Lock(t.Context(), "a.org", -1); !errors.Is(err, store.ErrLocked) {
		t.Errorf("an old unlock released another holder's lock: %v, want ErrLocked", err)
	}
	unlock2()
}

// testLockCancel: cancelling the context releases a waiter at once, with
// the context's error, however long it was willing to wait.
func testLockCancel(t *testing.T, h Harness) {
	open := h.New(t)
	b1, b2 := open(), open()
	unlock := lock(t, b1, "a.org")
	defer unlock()
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() {
		unlock2, err := b2.Lock(ctx, "a.org", time.Hour)
		if err == nil {
			unlock2()
		}
		res <- err
	}()
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("waiter after cancel: %v, want context.Canceled", err)
	}
	// the cancelled waiter holds nothing: the lock is still the first's
	if _, err := b2.Lock(t.Context(), "a.org", -1); !errors.Is(err, store.ErrLocked) {
		t.Errorf("after the cancelled wait: %v, want ErrLocked", err)
	}
}

// testLockHandover: a waiter gets the lock once the holder releases it.
func testLockHandover(t *testing.T, h Harness) {
	open := h.New(t)
	b1, b2 := open(), open()
	unlock := lock(t, b1, "a.org")
	res := make(chan error, 1)
	go func() {
		unlock2, err := b2.Lock(t.Context(), "a.org", time.Hour)
		if err == nil {
			unlock2()
		}
		res <- err
	}()
	unlock()
	if err := <-res; err != nil {
		t.Errorf("waiter after release: %v", err)
	}
}

// testLockClose: a handle that can be closed (a network client) releases
// its locks when closed, as the filesystem's do when the process dies.
func testLockClose(t *testing.T, h Harness) {
	open := h.New(t)
	b1, b2 := open(), open()
	c, ok := b1.(io.Closer)
	if !ok {
		t.Fatalf("%T is not an io.Closer: storetest.RunClose is for backends whose handles are closed", b1)
	}
	lock(t, b1, "a.org")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	lock(t, b2, "a.org")()
}

func testNamesRefused(t *testing.T, h Harness) {
	ctx := t.Context()
	b := h.New(t)()
	mustWrite(t, b, store.GroupDomains, "a.org", store.FileMD, "x")
	badNames := []string{"", "..", "../a.org", "a.org/..", "/etc", "a/b", "a\x00b", ".hidden", "a..b", "a b", "*.", "**.a.org"}
	badFiles := []string{"..", "../md.json", "/etc/passwd", "a/b", "x\x00y", ".hidden", "a b"}
	for _, n := range badNames {
		checkRefused(t, "Read name "+n, readErr(b.Read(ctx, store.GroupDomains, n, store.FileMD)))
		checkRefused(t, "Write name "+n, b.Write(ctx, store.GroupDomains, n, store.FileMD, []byte("x")))
		checkRefused(t, "ListFiles name "+n, listErr(b.ListFiles(ctx, store.GroupDomains, n)))
		checkRefused(t, "Remove name "+n, b.Remove(ctx, store.GroupDomains, n, store.FileMD))
		checkRefused(t, "Purge name "+n, b.Purge(ctx, store.GroupDomains, n))
		checkRefused(t, "Move from "+n, b.Move(ctx, store.GroupDomains, n, store.GroupArchive, "a.org.1"))
		checkRefused(t, "Move to "+n, b.Move(ctx, store.GroupDomains, "a.org", store.GroupArchive, n))
		checkRefused(t, "Exchange "+n, b.Exchange(ctx, store.GroupDomains, "a.org", store.GroupStaging, n))
		if n != "" { // "" is the store-wide lock
			_, err := b.Lock(ctx, n, -1)
			checkRefused(t, "Lock "+n, err)
		}
	}
	for _, f := range append(badFiles, "") {
		checkRefused(t, "Read file "+f, readErr(b.Read(ctx, store.GroupDomains, "a.org", f)))
		checkRefused(t, "Write file "+f, b.Write(ctx, store.GroupDomains, "a.org", f, []byte("x")))
		checkRefused(t, "Remove file "+f, b.Remove(ctx, store.GroupDomains, "a.org", f))
	}
	for _, g := range []store.Group{"..", "/etc", "domains/../..", "Domains", "nogroup"} {
		checkRefused(t, "Read group "+string(g), readErr(b.Read(ctx, g, "a.org", store.FileMD)))
		checkRefused(t, "Write group "+string(g), b.Write(ctx, g, "a.org", store.FileMD, []byte("x")))
		checkRefused(t, "List group "+string(g), listErr(b.List(ctx, g)))
	}
	checkRefused(t, "Write to a root file with a set name", b.Write(ctx, store.GroupRoot, "a.org", store.FileHTTPD, []byte("x")))
	// nothing of it was written
	wantContent(t, b, store.GroupDomains, "a.org", store.FileMD, "x")
	if names, err := b.List(ctx, store.GroupDomains); err != nil || !slices.Equal(names, []string{"a.org"}) {
		t.Errorf("after refused calls List(domains) = %q, %v", names, err)
	}
}

func readErr(_ []byte, err error) error   { return err }
func listErr(_ []string, err error) error { return err }

func checkRefused(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrBadName) {
		t.Errorf("%q: %v, want store.ErrBadName", what, err)
	}
}

// testLinksRefused: a link planted in the store (as a file or as a set) is
// never followed: reads, listings, set operations and writes neither
// reveal nor change what it points to.
func testLinksRefused(t *testing.T, h Harness) {
	ctx := t.Context()
	outside := t.TempDir()
	if h.Outside != nil {
		outside = h.Outside(t)
	}
	secret := filepath.Join(outside, "secret.pem")
	setDir := filepath.Join(outside, "set")
	must(t, os.WriteFile(secret, []byte("secret"), 0o600))
	must(t, os.Mkdir(setDir, 0o700))
	must(t, os.WriteFile(filepath.Join(setDir, store.FileMD), []byte("outside"), 0o600))
	intact := func(when string) {
		t.Helper()
		if b, err := os.ReadFile(secret); err != nil || string(b) != "secret" {
			t.Errorf("%s: the file a link points to became %q, %v", when, b, err)
		}
		if b, err := os.ReadFile(filepath.Join(setDir, store.FileMD)); err != nil || string(b) != "outside" {
			t.Errorf("%s: the directory a link points to changed: md.json %q, %v", when, b, err)
		}
	}

	b := h.New(t)()
	mustWrite(t, b, store.GroupDomains, "a.org", store.FileMD, "md")
	h.Link(t, b, store.GroupDomains, "a.org", "pubcert.pem", secret)
	if got, err := b.Read(ctx, store.GroupDomains, "a.org", "pubcert.pem"); !errors.Is(err, store.ErrSymlink) {
		t.Errorf("Read through a linked file = %q, %v; want store.ErrSymlink", got, err)
	}
	if _, err := b.ModTime(ctx, store.GroupDomains, "a.org", "pubcert.pem"); !errors.Is(err, store.ErrSymlink) {
		t.Errorf("ModTime of a linked file: %v, want store.ErrSymlink", err)
	}
	if files, err := b.ListFiles(ctx, store.GroupDomains, "a.org"); err != nil || slices.Contains(files, "pubcert.pem") {
		t.Errorf("ListFiles lists a linked file: %q, %v", files, err)
	}
	if err := b.Write(ctx, store.GroupDomains, "a.org", "pubcert.pem", []byte("new")); err == nil {
		wantContent(t, b, store.GroupDomains, "a.org", "pubcert.pem", "new") // the link was replaced
	}
	intact("after a write over a linked file")

	h.Link(t, b, store.GroupDomains, "b.org", "", setDir)
	mustWrite(t, b, store.GroupStaging, "c.org", store.FileMD, "staged")
	if names, err := b.List(ctx, store.GroupDomains); err != nil || slices.Contains(names, "b.org") {
		t.Errorf("List lists a linked set: %q, %v", names, err)
	}
	ops := []struct {
		what string
		err  error
	}{
		{"Read in a linked set", readErr(b.Read(ctx, store.GroupDomains, "b.org", store.FileMD))},
		{"ListFiles of a linked set", listErr(b.ListFiles(ctx, store.GroupDomains, "b.org"))},
		{"Write in a linked set", b.Write(ctx, store.GroupDomains, "b.org", store.FileMD, []byte("x"))},
		{"Write of a new file in a linked set", b.Write(ctx, store.GroupDomains, "b.org", "new.pem", []byte("x"))},
		{"Remove in a linked set", b.Remove(ctx, store.GroupDomains, "b.org", store.FileMD)},
		{"Purge of a linked set", b.Purge(ctx, store.GroupDomains, "b.org")},
		{"Move of a linked set", b.Move(ctx, store.GroupDomains, "b.org", store.GroupArchive, "b.org.1")},
		{"Move onto a linked set", b.Move(ctx, store.GroupStaging, "c.org", store.GroupDomains, "b.org")},
		{"Exchange with a linked set", b.Exchange(ctx, store.GroupStaging, "c.org", store.GroupDomains, "b.org")},
	}
	for _, op := range ops {
		if !errors.Is(op.err, store.ErrSymlink) {
			t.Errorf("%s: %v, want store.ErrSymlink", op.what, op.err)
		}
	}
	intact("after operations on a linked set")
	if _, err := os.Stat(filepath.Join(setDir, "new.pem")); err == nil {
		t.Error("a write created a file in the directory a linked set points to")
	}
	wantContent(t, b, store.GroupStaging, "c.org", store.FileMD, "staged")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
