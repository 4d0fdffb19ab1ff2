package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

func TestCorruptStoredMD(t *testing.T) {
	st, dir := openStore(t)
	writeFile(t, filepath.Join(dir, "domains", "b.example", "md.json"), []byte(`{"name": "b.example", "domains": [`))
	recs := parseTOML(t, twoDomains)
	_, err := Sync(context.Background(), st, recs, Options{})
	var ce *store.CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Join("domains", "b.example", "md.json")) {
		t.Fatalf("err = %v; want a CorruptError naming domains/b.example/md.json", err)
	}
	for _, f := range []string{"domains/a.example", "httpd.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s was written despite the error (%v)", f, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dir, "domains", "b.example", "md.json"))
	if string(got) != `{"name": "b.example", "domains": [` {
		t.Errorf("corrupt file was touched: %q", got)
	}
}

// TestCorruptStoredMDsFirstInOrder: records are examined in parallel, yet
// the error is the first corrupt MD's in record order, every run, and
// nothing is written.
func TestCorruptStoredMDsFirstInOrder(t *testing.T) {
	var conf strings.Builder
	conf.WriteString("[global]\ncontact-email = \"admin@example.org\"\nwebroot = \"/srv/www\"\n")
	for i := range 60 {
		fmt.Fprintf(&conf, "[[domain]]\ndomains = [\"d%02d.example\"]\n", i)
	}
	st, dir := openStore(t)
	sync(t, st, parseTOML(t, conf.String()), Options{})
	for _, n := range []string{"d17.example", "d41.example", "d58.example"} {
		writeFile(t, filepath.Join(dir, "domains", n, "md.json"), []byte(`{"name": "`+n+`", "domains": [`))
	}
	for range 5 {
		_, err := Sync(context.Background(), st, parseTOML(t, conf.String()+"renew-window = \"20d\"\n"), Options{})
		if err == nil || !strings.Contains(err.Error(), filepath.Join("domains", "d17.example", "md.json")) {
			t.Fatalf("err = %v; want the error of domains/d17.example/md.json, the first in order", err)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "domains", "d59.example", "md.json"))
	if err != nil || strings.Contains(string(got), "20d") || strings.Contains(string(got), "1728000") {
		t.Errorf("d59.example's md.json was rewritten despite the error: %s (%v)", got, err)
	}
}

func TestLocked(t *testing.T) {
	st, dir := openStore(t)
	unlock, err := st.Lock(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Sync(context.Background(), st, parseTOML(t, twoDomains), Options{Wait: -1})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("err = %v; want one wrapping store.ErrLocked", err)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "domains")); len(names) != 0 {
		t.Errorf("locked sync wrote %v", names)
	}
	// a dry run needs no lock
	res := sync(t, st, parseTOML(t, twoDomains), Options{DryRun: true, Wait: -1})
	if len(res.Written) != 2 {
		t.Errorf("dry run result %+v", res)
	}
}

func TestUnknownProtocolAndInvalidRecords(t *testing.T) {
	st, _ := openStore(t)
	recs := parseTOML(t, twoDomains)
	recs[0].CA.Proto = "tailscale"
	if _, err := Sync(context.Background(), st, recs, Options{}); err == nil || !strings.Contains(err.Error(), "uses unknown CA protocol 'tailscale'") {
		t.Errorf("err = %v", err)
	}
	recs = parseTOML(t, twoDomains)
	recs[1].Name = "../evil"
	if _, err := Sync(context.Background(), st, recs, Options{}); err == nil {
		t.Error("a record with an invalid name was synced")
	}
	recs = parseTOML(t, twoDomains)
	recs[1] = recs[0]
	if _, err := Sync(context.Background(), st, recs, Options{}); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("err = %v; want defined twice", err)
	}
	// a record that failed upstream is passed over
	recs = parseTOML(t, twoDomains)
	recs[1].Error = &md.StageError{Stage: "parse", Detail: "x"}
	res := sync(t, st, recs, Options{})
	if !reflect.DeepEqual(res.Written, []string{"a.example"}) {
		t.Errorf("written = %v", res.Written)
	}
}

// TestStoreOddities: sets mod_md would also meet in a store it did not
// write cleanly.
func TestStoreOddities(t *testing.T) {
	t.Run("set without md.json", func(t *testing.T) {
		st, dir := openStore(t)
		writeFile(t, filepath.Join(dir, "domains", "a.example", "job.json"), []byte(`{"name":"a.example"}`))
		res := sync(t, st, parseTOML(t, twoDomains), Options{})
		if len(res.Written) != 2 {
			t.Errorf("written = %v; want both", res.Written)
		}
		if _, err := st.LoadMD(t.Context(), store.GroupDomains, "a.example"); err != nil {
			t.Error(err)
		}
	})
	t.Run("corrupt unassigned set is no rename candidate", func(t *testing.T) {
		st, dir := openStore(t)
		writeFile(t, filepath.Join(dir, "domains", "old.example", "md.json"), []byte("{"))
		res := sync(t, st, parseTOML(t, twoDomains), Options{})
		if len(res.Renamed) != 0 || len(res.Written) != 2 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "domains/old.example") {
			t.Errorf("result %+v", res)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "domains", "old.example", "md.json")); string(got) != "{" {
			t.Errorf("unassigned set touched: %q", got)
		}
	})
	t.Run("staging target exists", func(t *testing.T) {
		st, dir := openStore(t)
		old := &md.MD{Name: "a.example", Domains: []string{"a.example", "www.a.example"}, CA: &md.CA{Proto: "ACME"}}
		if err := st.SaveMD(t.Context(), store.GroupDomains, old); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "staging", "a.example", "job.json"), []byte(`{"name":"a.example"}`))
		writeFile(t, filepath.Join(dir, "staging", "www.a.example", "job.json"), []byte(`{"name":"www.a.example"}`))
		res := sync(t, st, parseTOML(t, "[[domain]]\ndomains = [\"www.a.example\"]\nwebroot = \"/srv\"\n"), Options{})
		if res.Renamed["a.example"] != "www.a.example" || len(res.Warnings) != 1 {
			t.Errorf("result %+v", res)
		}
		if _, err := os.Stat(filepath.Join(dir, "domains", "www.a.example", "md.json")); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "staging", "a.example", "job.json")); err != nil {
			t.Errorf("old staging set lost: %v", err)
		}
	})
	t.Run("renamed set also configured under old name", func(t *testing.T) {
		// a.example stays configured: it is assigned, so the new MD is new
		st, _ := openStore(t)
		sync(t, st, parseTOML(t, "[[domain]]\ndomains = [\"a.example\", \"b.example\"]\nwebroot = \"/srv\"\n"), Options{})
		res := sync(t, st, parseTOML(t, "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\n[[domain]]\ndomains = [\"b.example\"]\nwebroot = \"/srv\"\n"), Options{})
		if len(res.Renamed) != 0 || !reflect.DeepEqual(sorted(res.Written), []string{"a.example", "b.example"}) {
			t.Errorf("result %+v", res)
		}
	})
}

// TestConcurrentSyncs: runs that wait for the lock sync one after the
// other, so exactly one of them writes each definition.
func TestConcurrentSyncs(t *testing.T) {
	_, dir := openStore(t)
	const n = 4
	results := make(chan *Result, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			st, err := store.Open(t.Context(), dir)
			if err != nil {
				errs <- err
				return
			}
			res, err := Sync(context.Background(), st, parseTOML(t, twoDomains), Options{Wait: 30 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			results <- res
		}()
	}
	written := 0
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case res := <-results:
			written += len(res.Written)
		}
	}
	if written != 2 {
		t.Errorf("%d definitions written by %d concurrent syncs; want 2", written, n)
	}
}

// TestRepairsRedactedHMAC: a store where an older md-install wrote the
// masked HMAC ("***") gets the configured one back on the next sync.
func TestRepairsRedactedHMAC(t *testing.T) {
	st, dir := openStore(t)
	conf := "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\nexternal-account-binding = { kid = \"k\", hmac = \"aG1hYw\" }\n"
	sync(t, st, parseTOML(t, conf), Options{})
	path := filepath.Join(dir, "domains", "a.example", "md.json")
	raw, _ := os.ReadFile(path)
	broken := strings.Replace(string(raw), `"aG1hYw"`, `"***"`, 1)
	if broken == string(raw) {
		t.Fatalf("no hmac in %s", raw)
	}
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	res := sync(t, st, parseTOML(t, conf), Options{})
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "a.example")
	if len(res.Written) != 1 || err != nil || m.EAB == nil || m.EAB.HMAC != "aG1hYw" {
		t.Errorf("result %+v, stored eab %+v (%v); want the configured hmac back", res, m.EAB, err)
	}
	if res := sync(t, st, parseTOML(t, conf), Options{}); len(res.Written) != 0 {
		t.Errorf("second sync rewrote %v", res.Written)
	}
}
