package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExistingModesNeverLoosened opens a store laid out with mod_md's
// modes, some of them stricter than the table (as an Apache admin or
// mod_md's md_make_worker_accessible leaves them), and runs every kind of
// mutation: a stricter mode stays, a looser one is tightened, a new
// directory gets the table's mode.
func TestExistingModesNeverLoosened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "md")
	found := map[string]os.FileMode{
		".": 0o750, "accounts": 0o700, "challenges": 0o711, "staging": 0o750, "ocsp": 0o750,
		"domains": 0o777, "archive": 0o700, "tmp": 0o700, // domains/ too open: tightened
		"staging/a.org": 0o750, "ocsp/a.org": 0o750, "challenges/a.org": 0o770,
		"domains/a.org": 0o755, // too open for keys: tightened
	}
	for _, p := range []string{".", "accounts", "challenges", "staging", "ocsp", "domains", "archive", "tmp",
		"staging/a.org", "ocsp/a.org", "challenges/a.org", "domains/a.org"} {
		must(t, os.MkdirAll(filepath.Join(dir, p), 0o700))
		must(t, os.Chmod(filepath.Join(dir, p), found[p]))
	}
	s, err := Open(t.Context(), dir)
	must(t, err)
	must(t, s.Write(t.Context(), GroupStaging, "a.org", "md.json", []byte("{}")))
	must(t, s.Write(t.Context(), GroupOCSP, "a.org", "job.json", []byte("{}")))
	must(t, s.Write(t.Context(), GroupChallenges, "a.org", FileHTTP01, []byte("tok")))
	must(t, s.Write(t.Context(), GroupDomains, "a.org", "md.json", []byte("{}")))
	must(t, s.Write(t.Context(), GroupStaging, "new.org", "md.json", []byte("{}")))
	must(t, s.Move(t.Context(), GroupStaging, "new.org", GroupStaging, "renamed.org"))
	must(t, s.Write(t.Context(), GroupTmp, "a.org", "pubcert.pem", []byte("x")))
	_, err = s.Promote(t.Context(), GroupTmp, "a.org")
	must(t, err)
	unlock, err := s.Lock(context.Background(), "a.org", 0)
	must(t, err)
	unlock()
	want := map[string]os.FileMode{
		".": 0o750, "accounts": 0o700, "challenges": 0o711, "staging": 0o750, "ocsp": 0o750,
		"domains": 0o700, "archive": 0o700, "tmp": 0o700,
		"staging/a.org": 0o750, "ocsp/a.org": 0o750, "challenges/a.org": 0o750,
		"domains/a.org": 0o700, "archive/a.org.1": 0o700, "staging/renamed.org": 0o755,
	}
	for p, m := range want {
		if got := mode(t, filepath.Join(dir, p)); got != m {
			t.Errorf("%s: mode %o; want %o", p, got, m)
		}
	}
}

// snapshot describes everything below dir (names, types, modes, content)
// to show that nothing outside the store changed.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sum := ""
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			h := sha256.Sum256(data)
			sum = hex.EncodeToString(h[:8])
		}
		b.WriteString(p + " " + fi.Mode().String() + " " + sum + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestLinksInsideStoreRefused plants a symbolic link to a directory or
// file outside the store in each place a command could be led out of the
// store, runs the real store operation, and checks that the operation
// fails with an error naming the link and that nothing outside changed.
func TestLinksInsideStoreRefused(t *testing.T) {
	type env struct {
		s       *Store
		dir     string
		outDir  string // a directory outside the store
		outFile string // a file outside the store
	}
	cases := []struct {
		name  string
		plant func(e env) // plants the link (and whatever the operation needs)
		op    func(e env) error
		link  string // the store-relative name the error must give
	}{
		{"staging set, write", func(e env) { link(t, e.outDir, e.dir, "staging/a.org") },
			func(e env) error { return e.s.Write(t.Context(), GroupStaging, "a.org", "order.json", []byte("{}")) }, "staging/a.org"},
		{"staging set, move to domains", func(e env) { link(t, e.outDir, e.dir, "staging/a.org") },
			func(e env) error { return e.s.Move(t.Context(), GroupStaging, "a.org", GroupDomains, "a.org") }, "staging/a.org"},
		{"domains set, write", func(e env) { link(t, e.outDir, e.dir, "domains/a.org") },
			func(e env) error { return e.s.Write(t.Context(), GroupDomains, "a.org", "job.json", []byte("{}")) }, "domains/a.org"},
		{"domains set, promote", func(e env) {
			must(t, e.s.Write(t.Context(), GroupTmp, "a.org", "pubcert.pem", []byte("new")))
			link(t, e.outDir, e.dir, "domains/a.org")
		}, func(e env) error { _, err := e.s.Promote(t.Context(), GroupTmp, "a.org"); return err }, "domains/a.org"},
		{"challenges dns, write", func(e env) { link(t, e.outDir, e.dir, "challenges/a.org") },
			func(e env) error { return e.s.Write(t.Context(), GroupChallenges, "a.org", FileHTTP01, []byte("tok")) }, "challenges/a.org"},
		{"challenges dns, purge", func(e env) { link(t, e.outDir, e.dir, "challenges/a.org") },
			func(e env) error { return e.s.Purge(t.Context(), GroupChallenges, "a.org") }, "challenges/a.org"},
		{"archive group, archive", func(e env) {
			must(t, e.s.Write(t.Context(), GroupDomains, "a.org", "pubcert.pem", []byte("old")))
			must(t, e.s.Write(t.Context(), GroupTmp, "a.org", "pubcert.pem", []byte("new")))
			must(t, os.RemoveAll(filepath.Join(e.dir, "archive")))
			link(t, e.outDir, e.dir, "archive")
		}, func(e env) error { _, err := e.s.Promote(t.Context(), GroupTmp, "a.org"); return err }, "archive"},
		{"whole group, open and chmod", func(e env) {
			must(t, os.RemoveAll(filepath.Join(e.dir, "ocsp")))
			link(t, e.outDir, e.dir, "ocsp")
		}, func(e env) error { _, err := Open(t.Context(), e.dir); return err }, "ocsp"},
		{"whole group, write", func(e env) {
			must(t, os.RemoveAll(filepath.Join(e.dir, "staging")))
			link(t, e.outDir, e.dir, "staging")
		}, func(e env) error { return e.s.Write(t.Context(), GroupStaging, "a.org", "md.json", []byte("{}")) }, "staging"},
		{"MD lock file", func(e env) { link(t, e.outFile, e.dir, "locks/a.org.lock") },
			func(e env) error { _, err := e.s.Lock(context.Background(), "a.org", -1); return err }, "locks/a.org.lock"},
		{"store lock file", func(e env) {
			_ = os.Remove(filepath.Join(e.dir, "store.lock"))
			link(t, e.outFile, e.dir, "store.lock")
		}, func(e env) error { _, err := e.s.Lock(context.Background(), "", -1); return err }, "store.lock"},
		{"locks dir", func(e env) {
			must(t, os.RemoveAll(filepath.Join(e.dir, "locks")))
			link(t, e.outDir, e.dir, "locks")
		}, func(e env) error { _, err := e.s.Lock(context.Background(), "a.org", -1); return err }, "locks"},
		{"file, read", func(e env) {
			must(t, e.s.Write(t.Context(), GroupDomains, "a.org", "md.json", []byte("{}")))
			link(t, e.outFile, e.dir, "domains/a.org/pubcert.pem")
		}, func(e env) error { _, err := e.s.Read(t.Context(), GroupDomains, "a.org", "pubcert.pem"); return err }, "domains/a.org/pubcert.pem"},
		{"set, read", func(e env) { link(t, e.outDir, e.dir, "domains/a.org") },
			func(e env) error { _, err := e.s.Read(t.Context(), GroupDomains, "a.org", "pubcert.pem"); return err }, "domains/a.org"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := openTemp(t)
			out := t.TempDir()
			e := env{s: s, dir: dir, outDir: filepath.Join(out, "victim"), outFile: filepath.Join(out, "victim.pem")}
			must(t, os.Mkdir(e.outDir, 0o777))
			must(t, os.Chmod(e.outDir, 0o777))
			must(t, os.WriteFile(filepath.Join(e.outDir, "pubcert.pem"), []byte("outside"), 0o644))
			must(t, os.WriteFile(e.outFile, []byte("outside"), 0o644))
			tc.plant(e)
			before := snapshot(t, out)
			err := tc.op(e)
			if err == nil || !strings.Contains(err.Error(), "store: "+tc.link+" is a symbolic link; refusing to follow it") {
				t.Errorf("err = %v; want one naming %s as a link", err, tc.link)
			}
			if after := snapshot(t, out); after != before {
				t.Errorf("outside the store changed:\nbefore:\n%safter:\n%s", before, after)
			}
		})
	}
}

func link(t *testing.T, target, dir, rel string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700))
	must(t, os.Symlink(target, filepath.Join(dir, rel)))
}

// TestReadsBoundedAndRegularOnly: a FIFO or a device in the store is
// refused at once (not read, not waited on), an oversized file is refused.
func TestReadsBoundedAndRegularOnly(t *testing.T) {
	s, dir := openTemp(t)
	must(t, s.Write(t.Context(), GroupDomains, "a.org", "md.json", []byte("{}")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "domains/a.org/pubcert.pem"), 0o600))
	done := make(chan error, 1)
	go func() { _, err := s.Read(t.Context(), GroupDomains, "a.org", "pubcert.pem"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: err = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reading a FIFO in the store hangs")
	}
	big := filepath.Join(dir, "domains/a.org/job.json")
	must(t, os.WriteFile(big, nil, 0o600))
	must(t, os.Truncate(big, MaxFileSize+1))
	if _, err := s.Read(t.Context(), GroupDomains, "a.org", "job.json"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized: err = %v", err)
	}
}

// TestPurgeIsAllOrNothing: a purge killed midway leaves only a hidden
// trash directory, never a half set under the set's name; SweepTrash
// removes it.
func TestPurgeIsAllOrNothing(t *testing.T) {
	s, dir := openTemp(t)
	must(t, s.Write(t.Context(), GroupStaging, "a.org", "md.json", []byte("{}")))
	must(t, s.Write(t.Context(), GroupStaging, "b.org", "md.json", []byte("{}")))
	// what a purge killed after its rename leaves
	must(t, os.Rename(filepath.Join(dir, "staging/a.org"), filepath.Join(dir, "staging/.a.org.0123456789ab.purge")))
	if names, _ := s.List(t.Context(), GroupStaging); len(names) != 1 || names[0] != "b.org" {
		t.Errorf("List = %v; the trash is not a set", names)
	}
	must(t, s.Purge(t.Context(), GroupStaging, "b.org"))
	if n, err := s.SweepTrash(t.Context(), GroupStaging); n != 1 || err != nil {
		t.Errorf("SweepTrash = %d, %v", n, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "staging")); len(entries) != 0 {
		t.Errorf("staging/ keeps %v", entries)
	}
}

// TestHandOverFollowsNoLink: challenges/<dns> is handed to the owner of
// challenges/ (mod_md's worker user), but a link planted in it does not
// hand the file it points to over.
func TestHandOverFollowsNoLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	s, dir := openTemp(t)
	must(t, os.Chown(filepath.Join(dir, "challenges"), 65534, 65534))
	must(t, s.Write(t.Context(), GroupChallenges, "a.org", FileHTTP01, []byte("tok")))
	outside := filepath.Join(t.TempDir(), "secret.pem")
	must(t, os.WriteFile(outside, []byte("secret"), 0o600))
	link(t, outside, dir, "challenges/a.org/acme-tls-alpn-01.pem")
	done, err := s.Backend().(Owner).HandOver(t.Context(), GroupChallenges, "a.org")
	if err != nil || !done {
		t.Fatalf("HandOver: %v %v", done, err)
	}
	owner := func(p string) uint32 {
		fi, err := os.Lstat(p)
		must(t, err)
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	if owner(filepath.Join(dir, "challenges/a.org")) != 65534 || owner(filepath.Join(dir, "challenges/a.org", FileHTTP01)) != 65534 {
		t.Error("challenge set not handed over")
	}
	if owner(outside) != 0 {
		t.Error("the file behind a planted link was handed over")
	}
	outDir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outDir, "key.pem"), []byte("secret"), 0o600))
	link(t, outDir, dir, "challenges/b.org")
	if _, err := s.Backend().(Owner).HandOver(t.Context(), GroupChallenges, "b.org"); err == nil || !strings.Contains(err.Error(), "challenges/b.org is a symbolic link") {
		t.Errorf("HandOver through a linked set: %v", err)
	}
	if owner(outDir) != 0 || owner(filepath.Join(outDir, "key.pem")) != 0 {
		t.Error("a directory behind a planted link was handed over")
	}
}

// TestSweepTemp: temp files a killed writer left are removed by SweepTemp
// and by Promote (from the promoted set and from the archived one); other
// files, the superseded marker included, stay.
func TestSweepTemp(t *testing.T) {
	s, dir := openTemp(t)
	plant := func(rel string) {
		must(t, os.WriteFile(filepath.Join(dir, rel), []byte("half"), 0o600))
	}
	must(t, s.Write(t.Context(), GroupStaging, "a.org", "md.json", []byte("{}")))
	plant("staging/a.org/.order.json.0123456789ab.tmp")
	plant("staging/a.org/.notatemp")
	if n, err := s.SweepTemp(t.Context(), GroupStaging, "a.org"); n != 1 || err != nil {
		t.Errorf("SweepTemp = %d, %v", n, err)
	}
	if names := dirNames(t, filepath.Join(dir, "staging/a.org")); names != ".notatemp md.json" {
		t.Errorf("staging/a.org holds %s", names)
	}
	must(t, s.Write(t.Context(), GroupDomains, "a.org", "pubcert.pem", []byte("old")))
	plant("domains/a.org/.job.json.0123456789ab.tmp")
	must(t, s.Write(t.Context(), GroupTmp, "a.org", "pubcert.pem", []byte("new")))
	plant("tmp/a.org/.md.json.ba9876543210.tmp")
	arch, err := s.Promote(t.Context(), GroupTmp, "a.org")
	must(t, err)
	if names := dirNames(t, filepath.Join(dir, "domains/a.org")); names != "pubcert.pem" {
		t.Errorf("domains/a.org holds %s", names)
	}
	if names := dirNames(t, filepath.Join(dir, "archive", arch)); names != "pubcert.pem" {
		t.Errorf("archive/%s holds %s", arch, names)
	}
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// BenchmarkRead is one read of a small store file (md-status and
// md-install --all read thousands).
func BenchmarkRead(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "md"))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Write(b.Context(), GroupDomains, "a.org", "pubcert.pem", []byte("cert")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Read(b.Context(), GroupDomains, "a.org", "pubcert.pem"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExists is one existence check (ModTime) of a store file.
func BenchmarkExists(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "md"))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Write(b.Context(), GroupDomains, "a.org", "pubcert.pem", []byte("cert")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !s.Exists(b.Context(), GroupDomains, "a.org", "pubcert.pem") {
			b.Fatal("missing")
		}
	}
}

// BenchmarkWrite is one atomic write into an existing set, without fsync
// (the deferred view md-install activates with).
func BenchmarkWrite(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "md"))
	if err != nil {
		b.Fatal(err)
	}
	d, _ := s.Deferred()
	data := []byte("cert")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Write(b.Context(), GroupStaging, "a.org", "pubcert.pem", data); err != nil {
			b.Fatal(err)
		}
	}
}
