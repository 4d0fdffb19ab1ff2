package storetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Tree is a file store's content for comparisons: every file by its
// path relative to dir, as its mode and bytes; every directory ("path/")
// as its mode. Lock files (locks/, store.lock) are left out: they are
// not data and are never copied.
func Tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "locks" || rel == "store.lock" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = fi.Mode().String()
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = fi.Mode().String() + " " + string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
