package etcdstore_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// raw is the value etcd holds for key, as any etcd client sees it.
func raw(t *testing.T, b *etcdstore.Backend, key string) []byte {
	t.Helper()
	resp, err := b.Client().Get(t.Context(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v, %d values", key, err, len(resp.Kvs))
	}
	return resp.Kvs[0].Value
}

// TestKeysSealed: private keys written through a Store (domains: PEM in
// clear at the store level) reach etcd sealed; they stay readable through
// the store after moves and exchanges (resealed for their new path), and
// other files stay readable to etcdctl.
func TestKeysSealed(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	b := open(t, srv, "/sealed", nodeKey(t))
	st, err := store.OpenBackend(ctx, b, b.String())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, g := range []store.Group{store.GroupDomains, store.GroupAccounts} {
		file := "privkey.pem"
		if g == store.GroupAccounts {
			file = store.FileAccountKey
		}
		if err := st.SaveKey(ctx, g, "a.org", file, key); err != nil {
			t.Fatal(err)
		}
		v := raw(t, b, "/sealed/"+string(g)+"/a.org/"+file)
		if bytes.Contains(v, []byte("PRIVATE KEY")) || bytes.Contains(v, []byte("-----BEGIN")) {
			t.Errorf("%s/a.org/%s is in clear in etcd: %q", g, file, v)
		}
		if !bytes.HasPrefix(v, []byte("mdtools-etcd 1 ")) || !bytes.Contains(v[:60], []byte(" aes256gcm\n")) {
			t.Errorf("%s/a.org/%s: header %q, want a sealed envelope", g, file, v[:min(40, len(v))])
		}
	}
	if err := st.Write(ctx, store.GroupDomains, "a.org", "pubcert.pem", []byte("-----BEGIN CERTIFICATE-----\n")); err != nil {
		t.Fatal(err)
	}
	if v := raw(t, b, "/sealed/domains/a.org/pubcert.pem"); !bytes.HasSuffix(v, []byte(" plain\n-----BEGIN CERTIFICATE-----\n")) {
		t.Errorf("a certificate is stored as %q, want a plain envelope", v)
	}
	// the key survives a move and an exchange, each resealing it
	if err := st.Move(ctx, store.GroupDomains, "a.org", store.GroupStaging, "a.org"); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveKey(ctx, store.GroupDomains, "a.org", "privkey.pem", key); err != nil {
		t.Fatal(err)
	}
	if err := b.Exchange(ctx, store.GroupStaging, "a.org", store.GroupDomains, "a.org"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []store.Group{store.GroupDomains, store.GroupStaging} {
		got, err := st.LoadKey(ctx, g, "a.org", "privkey.pem")
		if err != nil || !key.Equal(got) {
			t.Errorf("LoadKey %s/a.org after move and exchange: %v", g, err)
		}
	}
	// a sealed value copied to another path does not open there
	resp, err := b.Client().Put(ctx, "/sealed/domains/b.org/privkey.pem", string(raw(t, b, "/sealed/domains/a.org/privkey.pem")))
	if err != nil || resp == nil {
		t.Fatal(err)
	}
	var ce *store.CorruptError
	if _, err := b.Read(ctx, store.GroupDomains, "b.org", "privkey.pem"); !errors.As(err, &ce) {
		t.Errorf("a sealed key copied to another path: %v, want a CorruptError", err)
	}
}

// TestNodeKeyMissing: without a node key, reading or writing a private
// key fails with a clear error; other files work.
func TestNodeKeyMissing(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	withKey := open(t, srv, "/nokey", nodeKey(t))
	if err := withKey.Write(ctx, store.GroupDomains, "a.org", "privkey.pem", []byte("k")); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(t.TempDir(), "loose.key")
	if err := os.WriteFile(loose, bytes.Repeat([]byte{'k'}, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, keyFile, want string
	}{
		{"unset", "", etcdstore.KeyFileEnv},
		{"missing file", filepath.Join(t.TempDir(), "none.key"), "none.key"},
		{"readable by others", loose, "chmod 600"},
		{"too short", short, "want 32 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, srv, "/nokey", tc.keyFile)
			_, rerr := b.Read(ctx, store.GroupDomains, "a.org", "privkey.pem")
			werr := b.Write(ctx, store.GroupDomains, "b.org", "privkey.pem", []byte("k"))
			for _, err := range []error{rerr, werr} {
				if !errors.Is(err, etcdstore.ErrNoKey) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "privkey.pem") {
					t.Errorf("got %v; want ErrNoKey naming the file and %q", err, tc.want)
				}
			}
			if err := b.Write(ctx, store.GroupDomains, "b.org", store.FileMD, []byte("{}")); err != nil {
				t.Errorf("writing md.json without a node key: %v", err)
			}
		})
	}
}

// TestRequestLimit: a file over etcd's request limit is refused with an
// error naming it and the limit, and nothing is written; so is a set
// whose move would be one transaction over the limit.
func TestRequestLimit(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	b := open(t, srv, "/limit", "")
	err := b.Write(ctx, store.GroupDomains, "a.org", "pubcert.pem", make([]byte, 2<<20))
	if err == nil || !strings.Contains(err.Error(), "domains/a.org/pubcert.pem") || !strings.Contains(err.Error(), "1.5 MiB") {
		t.Errorf("a 2 MiB write: %v; want an error naming the file and the 1.5 MiB limit", err)
	}
	if _, err := b.Read(ctx, store.GroupDomains, "a.org", "pubcert.pem"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the refused write: %v, want nothing written", err)
	}
	for _, f := range []string{"one.pem", "two.pem"} {
		if err := b.Write(ctx, store.GroupStaging, "a.org", f, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	err = b.Move(ctx, store.GroupStaging, "a.org", store.GroupDomains, "a.org")
	if err == nil || !strings.Contains(err.Error(), "staging/a.org") || !strings.Contains(err.Error(), "request limit") {
		t.Errorf("moving a 2 MiB set: %v; want an error naming the set and the limit", err)
	}
	if files, _ := b.ListFiles(ctx, store.GroupStaging, "a.org"); len(files) != 2 {
		t.Errorf("after the refused move staging/a.org holds %q", files)
	}
}

// TestUnreachable: a store whose etcd does not answer fails within the
// request timeout with an error naming etcd.
func TestUnreachable(t *testing.T) {
	srv := etcdtest.Start(t)
	b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, RequestTimeout: 300 * 1e6})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv.Stop()
	_, err = b.Read(context.Background(), store.GroupDomains, "a.org", store.FileMD)
	if err == nil || !strings.Contains(err.Error(), "etcd store etcd://"+srv.Endpoint+"/mdtools") {
		t.Errorf("read from a stopped etcd: %v; want an error naming the etcd store", err)
	}
	if _, err := b.Lock(context.Background(), "a.org", -1); err == nil || errors.Is(err, store.ErrLocked) {
		t.Errorf("lock on a stopped etcd: %v; want an etcd error, not ErrLocked", err)
	}
}
