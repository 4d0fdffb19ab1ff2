package migrate_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/migrate"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
	"github.com/mdtools/mdtools/lib/store/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// nodeKey writes a node key file (0600) and returns its path.
func nodeKey(t *testing.T) string { return nodeKeyB(t) }

func nodeKeyB(t testing.TB) string {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	p := filepath.Join(t.TempDir(), "node.key")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(k)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func etcdBackend(t *testing.T, srv *etcdtest.Server, prefix, keyFile string) *etcdstore.Backend {
	return etcdBackendB(t, srv, prefix, keyFile)
}

func etcdBackendB(t testing.TB, srv *etcdtest.Server, prefix, keyFile string) *etcdstore.Backend {
	t.Helper()
	b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: prefix, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func fsBackend(t *testing.T, dir string) *store.FS {
	t.Helper()
	b, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// populate fills a store as a few runs of the tools would: an account
// (encrypted key), a live set with key, certificate, md.json and job log,
// a staged set (encrypted key), an archived set, an OCSP response, a
// half-done promotion marker, and root files.
func populate(t *testing.T, b store.Backend) {
	t.Helper()
	ctx := t.Context()
	st, err := store.OpenBackend(ctx, b, "src")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.SaveKey(ctx, store.GroupAccounts, "ACME-ca.test-0000", store.FileAccountKey, certtest.NewKey(t)))
	must(st.Write(ctx, store.GroupAccounts, "ACME-ca.test-0000", store.FileAccount, []byte(`{"url":"https://ca.test/acct/1","status":"valid"}`+"\n")))
	for _, name := range []string{"a.test", "b.test"} {
		c := certtest.New(t, certtest.Spec{Names: []string{name, "www." + name}})
		must(st.SaveMD(ctx, store.GroupDomains, &md.MD{Name: name, Domains: []string{name, "www." + name}}))
		must(st.Write(ctx, store.GroupDomains, name, "pubcert.pem", c.PEM()))
		must(st.Write(ctx, store.GroupDomains, name, "privkey.pem", c.KeyPEM(t)))
		must(st.SaveJob(ctx, store.GroupStaging, name, &md.Job{Name: name, Finished: true,
			Log: md.JobLog{Entries: []md.JobEntry{{Type: "progress", Detail: "certificate ordered for " + name}}}}))
		must(st.Write(ctx, store.GroupArchive, name+".1", "pubcert.pem", c.PEM()))
		must(st.Write(ctx, store.GroupOCSP, name, "ocsp-0123.json", []byte(`{"valid":{"from":"x","until":"y"}}`)))
	}
	must(st.SaveKey(ctx, store.GroupStaging, "b.test", "privkey.pem", certtest.NewKey(t)))
	must(st.Write(ctx, store.GroupStaging, "b.test", ".superseded", []byte("replaced by a promoted set\n")))
	must(st.Write(ctx, store.GroupRoot, "", store.FileHTTPD, []byte(`{"proto":{"https":true}}`)))
	must(st.Write(ctx, store.GroupRoot, "", store.ARIFile("a.test"), []byte(`{"retry-after":"2026-01-01T00:00:00Z"}`)))
}

// TestRoundTrip: a file store copied into etcd and back is the same tree,
// byte for byte and mode for mode; in etcd, private keys are sealed.
func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	key := nodeKey(t)
	srcDir, backDir := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "back")
	src := fsBackend(t, srcDir)
	populate(t, src)
	// a memo (larger than etcd takes) is this store's cache: not copied
	if err := src.Write(ctx, store.GroupRoot, "", memo.FileName("order"), bytes.Repeat([]byte("m"), 2<<20)); err != nil {
		t.Fatal(err)
	}
	eb := etcdBackend(t, srv, "/fleet", key)

	rep, err := migrate.Copy(ctx, src, eb, srcDir, eb.String(), migrate.Options{})
	if err != nil {
		t.Fatalf("file -> etcd: %v", err)
	}
	wantGroups := map[string][2]int{ // sets, files
		"root": {0, 3}, "accounts": {1, 2}, "domains": {2, 6}, "staging": {2, 4}, "archive": {2, 2}, "ocsp": {2, 2},
	}
	for g, w := range wantGroups {
		gc := rep.Groups[g]
		if gc == nil || gc.Sets != w[0] || gc.Files != w[1] || gc.Copied != w[1] {
			t.Errorf("group %s: %+v, want %d sets, %d files copied", g, gc, w[0], w[1])
		}
	}
	if rep.Verified != rep.Total.Files || rep.Total.Files != 19 || rep.StoreKey != "copied" {
		t.Errorf("report: %d verified of %d files, store key %q", rep.Verified, rep.Total.Files, rep.StoreKey)
	}
	for _, k := range []string{"/fleet/domains/a.test/privkey.pem", "/fleet/accounts/ACME-ca.test-0000/account.pem", "/fleet/staging/b.test/privkey.pem"} {
		resp, err := eb.Client().Get(ctx, k)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("%s: %v", k, err)
		}
		if v := resp.Kvs[0].Value; bytes.Contains(v, []byte("PRIVATE KEY")) || !bytes.Contains(v[:60], []byte(" aes256gcm\n")) {
			t.Errorf("%s is not sealed in etcd: %q", k, v[:min(len(v), 60)])
		}
	}

	back := fsBackend(t, backDir)
	if _, err := migrate.Copy(ctx, eb, back, eb.String(), backDir, migrate.Options{}); err != nil {
		t.Fatalf("etcd -> file: %v", err)
	}
	a, b := storetest.Tree(t, srcDir), storetest.Tree(t, backDir)
	delete(a, memo.FileName("order"))
	for p, v := range a {
		if b[p] != v {
			t.Errorf("%s: after the round trip %.40q, want %.40q", p, b[p], v)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s: only after the round trip", p)
		}
	}
	if m := a["domains/a.test/privkey.pem"]; !strings.HasPrefix(m, "-rw------- ") {
		t.Errorf("privkey.pem mode: %.12s", m)
	}
}

// TestDestinationNotEmpty: a destination holding anything is refused and
// left as it was; an empty one that lacks md_store.json is not "holding".
func TestDestinationNotEmpty(t *testing.T) {
	ctx := t.Context()
	src := fsBackend(t, t.TempDir())
	populate(t, src)
	dstDir := t.TempDir()
	dst := fsBackend(t, dstDir)
	if err := dst.Write(ctx, store.GroupDomains, "c.test", "md.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	before := storetest.Tree(t, dstDir)
	_, err := migrate.Copy(ctx, src, dst, "src", dstDir, migrate.Options{})
	if !errors.Is(err, migrate.ErrNotEmpty) || !strings.Contains(err.Error(), "domains/c.test/md.json") {
		t.Fatalf("copy into a store with a file: %v, want ErrNotEmpty naming it", err)
	}
	after := storetest.Tree(t, dstDir)
	if len(after) != len(before) || after["domains/c.test/md.json"] != before["domains/c.test/md.json"] {
		t.Errorf("the destination changed: %v", after)
	}
	if _, err := migrate.Copy(ctx, fsBackend(t, t.TempDir()), dst, "empty", dstDir, migrate.Options{}); !errors.Is(err, migrate.ErrNotStore) {
		t.Errorf("copy from a directory without md_store.json: %v, want ErrNotStore", err)
	}

	// a store with nothing but its md_store.json (a command opened it) is
	// empty: it gets the source's store key
	freshDir := t.TempDir()
	if _, err := store.Open(ctx, freshDir); err != nil {
		t.Fatal(err)
	}
	rep, err := migrate.Copy(ctx, src, fsBackend(t, freshDir), "src", freshDir, migrate.Options{})
	if err != nil || rep.StoreKey != "copied" {
		t.Fatalf("copy into a store with only md_store.json: %v %+v", err, rep)
	}
	want, _ := src.Read(ctx, store.GroupRoot, "", store.FileStore)
	if got, _ := os.ReadFile(filepath.Join(freshDir, store.FileStore)); !bytes.Equal(got, want) {
		t.Error("md_store.json is not the source's")
	}
}

// TestMerge: into a store with its own key and MDs, a merge adds the
// source's files, re-encrypts the encrypted keys for the destination's
// store key, keeps that key, and leaves a differing file unless told to
// overwrite it.
func TestMerge(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	src := fsBackend(t, t.TempDir())
	populate(t, src)
	dst := etcdBackend(t, srv, "/merge", nodeKey(t))
	dstSt, err := store.OpenBackend(ctx, dst, "dst") // its own md_store.json
	if err != nil {
		t.Fatal(err)
	}
	own, _ := dst.Read(ctx, store.GroupRoot, "", store.FileStore)
	other := certtest.New(t, certtest.Spec{Names: []string{"a.test"}}).PEM()
	if err := dstSt.Write(ctx, store.GroupDomains, "a.test", "pubcert.pem", other); err != nil {
		t.Fatal(err)
	}
	if err := dstSt.Write(ctx, store.GroupDomains, "z.test", "md.json", []byte(`{"name":"z.test"}`)); err != nil {
		t.Fatal(err)
	}

	rep, err := migrate.Copy(ctx, src, dst, "src", "dst", migrate.Options{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoreKey != "kept" || rep.Total.Conflicts != 1 || len(rep.Conflicts) != 1 || rep.Conflicts[0] != "domains/a.test/pubcert.pem" ||
		rep.Total.Reencrypted != 2 || rep.Verified != rep.Total.Files {
		t.Fatalf("merge report: %+v total %+v", rep, rep.Total)
	}
	if now, _ := dst.Read(ctx, store.GroupRoot, "", store.FileStore); !bytes.Equal(now, own) {
		t.Error("the destination's md_store.json was replaced")
	}
	if got, _ := dst.Read(ctx, store.GroupDomains, "a.test", "pubcert.pem"); !bytes.Equal(got, other) {
		t.Error("a conflicting file was replaced without --overwrite")
	}
	srcSt, _ := store.OpenBackend(ctx, src, "src")
	for _, f := range [][2]string{{"accounts/ACME-ca.test-0000", store.FileAccountKey}, {"staging/b.test", "privkey.pem"}} {
		g, n, _ := strings.Cut(f[0], "/")
		want, err1 := srcSt.LoadKey(ctx, store.Group(g), n, f[1])
		got, err2 := dstSt.LoadKey(ctx, store.Group(g), n, f[1])
		if err1 != nil || err2 != nil || !want.(interface{ Equal(crypto.PrivateKey) bool }).Equal(got) {
			t.Errorf("%s/%s in the destination: %v %v, not the source's key", f[0], f[1], err1, err2)
		}
	}

	// again: everything is there; the conflict stays until --overwrite
	rep, err = migrate.Copy(ctx, src, dst, "src", "dst", migrate.Options{Merge: true})
	if err != nil || rep.Total.Copied != 0 || rep.Total.Conflicts != 1 {
		t.Fatalf("second merge: %v, total %+v", err, rep.Total)
	}
	rep, err = migrate.Copy(ctx, src, dst, "src", "dst", migrate.Options{Merge: true, Overwrite: true})
	if err != nil || rep.Total.Copied != 1 {
		t.Fatalf("merge --overwrite: %v, total %+v", err, rep.Total)
	}
	want, _ := src.Read(ctx, store.GroupDomains, "a.test", "pubcert.pem")
	if got, _ := dst.Read(ctx, store.GroupDomains, "a.test", "pubcert.pem"); !bytes.Equal(got, want) {
		t.Error("--overwrite did not replace the conflicting file")
	}
	if _, err := dst.Read(ctx, store.GroupDomains, "z.test", "md.json"); err != nil {
		t.Errorf("the destination's own MD is gone: %v", err)
	}
}

// corrupting is a backend whose writes of certificates lose their last
// byte (fault injection for Verify).
type corrupting struct{ store.Backend }

func (c corrupting) Write(ctx context.Context, g store.Group, name, file string, data []byte) error {
	if strings.HasPrefix(file, "pubcert") {
		data = data[:len(data)-1]
	}
	return c.Backend.Write(ctx, g, name, file, data)
}

// TestVerifyFails: a destination that does not hold what was written is
// reported, naming the files.
func TestVerifyFails(t *testing.T) {
	ctx := t.Context()
	src := fsBackend(t, t.TempDir())
	populate(t, src)
	rep, err := migrate.Copy(ctx, src, corrupting{fsBackend(t, t.TempDir())}, "src", "dst", migrate.Options{})
	if !errors.Is(err, migrate.ErrVerify) || !strings.Contains(err.Error(), "domains/a.test/pubcert.pem: content differs") {
		t.Fatalf("copy into a corrupting store: %v", err)
	}
	if rep == nil || rep.Verified != rep.Total.Files-4 {
		t.Errorf("report: %+v", rep)
	}
}

// TestLocked: an MD locked in the destination (a run working on it) stops
// the copy before anything is written.
func TestLocked(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	src := fsBackend(t, t.TempDir())
	populate(t, src)
	key := nodeKey(t)
	holder := etcdBackend(t, srv, "/locked", key)
	unlock, err := holder.Lock(ctx, "a.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	dst := etcdBackend(t, srv, "/locked", key)
	_, err = migrate.Copy(ctx, src, dst, "src", "dst", migrate.Options{Wait: -1})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "a.test") {
		t.Fatalf("copy with a.test locked: %v, want ErrLocked naming it", err)
	}
	if _, err := dst.Read(ctx, store.GroupRoot, "", store.FileStore); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("something was written: %v", err)
	}
}

// TestNoNodeKey: copying private keys into etcd without a node key fails
// with the reason, not with keys in clear.
func TestNoNodeKey(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	src := fsBackend(t, t.TempDir())
	populate(t, src)
	dst := etcdBackend(t, srv, "/nokey", "")
	_, err := migrate.Copy(ctx, src, dst, "src", "dst", migrate.Options{})
	if !errors.Is(err, etcdstore.ErrNoKey) {
		t.Fatalf("copy without a node key: %v, want ErrNoKey", err)
	}
	resp, err := dst.Client().Get(ctx, "/nokey/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if bytes.Contains(kv.Value, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a key in clear", kv.Key)
		}
	}
}

// TestDryRun writes nothing and counts what would be copied.
func TestDryRun(t *testing.T) {
	ctx := t.Context()
	src := fsBackend(t, t.TempDir())
	populate(t, src)
	dstDir := t.TempDir()
	rep, err := migrate.Copy(ctx, src, fsBackend(t, dstDir), "src", dstDir, migrate.Options{DryRun: true})
	if err != nil || rep.Total.Copied != 19 || rep.Verified != 0 {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	for p := range storetest.Tree(t, dstDir) {
		if !strings.HasSuffix(p, "/") {
			t.Errorf("dry run wrote %s", p)
		}
	}
}
