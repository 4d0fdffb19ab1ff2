package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/storetest"
)

// TestFSConformance runs the backend conformance suite on the filesystem
// backend, each handle a NewFS on the same directory: the general part and
// the part for stores made of files (links). Its locks end with the
// process, not with a handle, so RunClose does not apply.
func TestFSConformance(t *testing.T) {
	h := storetest.Harness{
		New: func(t *testing.T) func() store.Backend {
			dir := t.TempDir()
			return func() store.Backend {
				b, err := store.NewFS(dir)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		},
		Link: func(t *testing.T, b store.Backend, g store.Group, name, file, target string) {
			dir := filepath.Join(b.(store.LocalDir).Dir(), string(g), name)
			if file != "" {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				dir = filepath.Join(dir, file)
			}
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		},
	}
	storetest.Run(t, h)
	storetest.RunLinks(t, h)
}
