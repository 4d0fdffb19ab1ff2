package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/tomlconf"
)

func BenchmarkSync(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("[global]\nwebroot = \"/srv\"\ncontact-email = \"a@example.org\"\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&conf, "[[domain]]\ndomains = [\"d%d.example\", \"www.d%d.example\"]\n", i, i)
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "md.toml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(b.Context(), filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	load := func() []*md.Record {
		pc, err := tomlconf.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		return pc.Records
	}
	start := time.Now()
	if _, err := Sync(context.Background(), st, load(), Options{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first sync of 5000 MDs (writes all): %v", time.Since(start))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs := load()
		res, err := Sync(context.Background(), st, recs, Options{})
		if err != nil || len(res.Written) != 0 {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkResync200kNames: one MD of 200,000 names synced again (the
// stored definition compared name by name), and again after its first
// name was dropped (a rename: the stored MD found by its names). Both
// were quadratic (88 s for the resync); they are linear now:
//
//	go test -run '^$' -bench Resync200kNames -benchtime 2x ./lib/registry/
func BenchmarkResync200kNames(b *testing.B) {
	names := make([]string, 200000)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("%d.a.io", i))
	}
	conf := func(from int) string {
		return "[[domain]]\nwebroot = \"/srv\"\ndomains = [" + strings.Join(names[from:], ",") + "]\n"
	}
	for b.Loop() {
		b.StopTimer()
		st, _ := openStore(b)
		if _, err := Sync(context.Background(), st, parseTOML(b, conf(0)), Options{}); err != nil {
			b.Fatal(err)
		}
		again, renamed := parseTOML(b, conf(0)), parseTOML(b, conf(1))
		b.StartTimer()
		if res, err := Sync(context.Background(), st, again, Options{}); err != nil || len(res.Written) != 0 {
			b.Fatalf("resync: %v %+v", err, res)
		}
		if res, err := Sync(context.Background(), st, renamed, Options{}); err != nil || len(res.Renamed) != 1 {
			b.Fatalf("rename: %v %+v", err, res)
		}
	}
}
