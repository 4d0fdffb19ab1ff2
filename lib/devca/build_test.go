package devca

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCachedBuildConcurrent: processes building at once into an empty
// cache all get the same complete directory, and no temp dir is left.
func TestCachedBuildConcurrent(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "tmp-killed")
	oldBuild := filepath.Join(root, "0123456789abcdef")
	for _, d := range []string{stale, oldBuild} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-pruneAge - time.Hour)
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	dirs := make([]string, 2)
	errs := make([]error, 2)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = cachedBuild(root, moduleDir())
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if dirs[i] != dirs[0] || !complete(dirs[i]) {
			t.Fatalf("build %d: %s complete=%v; want %s complete", i, dirs[i], complete(dirs[i]), dirs[0])
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(dirs[0]) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("cache holds %v; want only %s", names, filepath.Base(dirs[0]))
	}
	again, err := cachedBuild(root, moduleDir())
	if err != nil || again != dirs[0] {
		t.Errorf("second lookup: %s, %v; want %s", again, err, dirs[0])
	}
}

// TestCacheKey: the key changes with go.sum (a Pebble dependency bump).
func TestCacheKey(t *testing.T) {
	dir := t.TempDir()
	write := func(sum string) string {
		t.Helper()
		for f, s := range map[string]string{"go.mod": "module x\n", "go.sum": sum} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		k, err := cacheKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if a, b := write("a v1\n"), write("a v2\n"); a == b {
		t.Errorf("same key %s for different go.sum", a)
	}
}

// TestLogTail: a failure message shows the last lines and the path, not
// the whole log.
func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pebble.log")
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString("line " + strings.Repeat("x", i%7) + "\n")
	}
	b.WriteString("the last line\n")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ca := &CA{logs: []string{p}}
	got := ca.LogTail()
	if n := strings.Count(got, "\n"); n != logTailLines+1 {
		t.Errorf("LogTail has %d lines; want %d:\n%s", n, logTailLines+1, got)
	}
	if !strings.Contains(got, p) || !strings.HasSuffix(got, "the last line\n") {
		t.Errorf("LogTail lacks the path or the last line:\n%s", got)
	}
}
