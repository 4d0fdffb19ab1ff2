package e2e

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// layers is the README's package drawing (Development): a package imports
// only packages of lower rank, or of its own rank except the stages (no
// stage reaches into another), and never a test-only package.
var layers = map[string]int{
	"md": 0, "store": 0, "store/etcdstore": 0, "fsread": 0, "logger": 0, "pool": 0, "httpproxy": 0, "memo": 0, "breaker": 0,
	"renew": 1, "event": 1, "ocspfile": 1, "storewatch": 1,
	"challenge": 2, "apacheconf": 2, "tomlconf": 2,
	"registry": 3, "acmeflow": 3, "install": 3, "staple": 3, "status": 3,
	"importer": 4, "migrate": 4, "persist": 4,
	"cli": 5,
}

const stageRank = 3

var testOnly = map[string]bool{
	"devca": true, "certtest": true, "apachetest": true, "e2e": true, "fsread/fsreadtest": true, "memo/memotest": true,
	"httpproxy/proxytest": true, "staple/ocsptest": true, "store/etcdstore/etcdtest": true, "store/storetest": true,
}

func TestPackageLayers(t *testing.T) {
	const lib = "github.com/mdtools/mdtools/lib/"
	names := make([]string, 0, len(layers))
	for n := range layers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		pkg, err := build.Import(lib+name, ".", 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, lib)
			if !ok {
				continue
			}
			rank, known := layers[dep]
			switch {
			case testOnly[dep]:
				t.Errorf("lib/%s imports the test-only lib/%s", name, dep)
			case !known:
				t.Errorf("lib/%s imports lib/%s, which has no place in the drawing (add it to layers and the README)", name, dep)
			case rank > layers[name]:
				t.Errorf("lib/%s (rank %d) imports lib/%s of a higher rank (%d)", name, layers[name], dep, rank)
			case rank == stageRank && layers[name] == stageRank:
				t.Errorf("stage lib/%s imports stage lib/%s", name, dep)
			}
		}
	}
	// every package of lib/ is in the drawing
	root := filepath.Join(moduleRoot(), "lib")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return err
		}
		name, _ := filepath.Rel(root, path)
		name = filepath.ToSlash(name)
		if _, known := layers[name]; known || testOnly[name] {
			return nil
		}
		if pkg, err := build.ImportDir(path, 0); err == nil && len(pkg.GoFiles) > 0 {
			t.Errorf("lib/%s has no place in the drawing (add it to layers or testOnly, and to the README)", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
