package devca

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

type tools struct{ pebble, challtestsrv string }

var (
	buildOnce sync.Once
	built     tools
	buildErr  error
)

// buildTools compiles Pebble and challtestsrv at the versions pinned in
// go.mod, once per process (Go's build cache makes repeats cheap). Set
// MDTOOLS_PEBBLE_BIN_DIR to a directory holding prebuilt "pebble" and
// "pebble-challtestsrv" binaries to skip the build.
func buildTools() (tools, error) {
	buildOnce.Do(func() {
		if d := os.Getenv("MDTOOLS_PEBBLE_BIN_DIR"); d != "" {
			built = tools{filepath.Join(d, "pebble"), filepath.Join(d, "pebble-challtestsrv")}
			return
		}
		dir, err := os.MkdirTemp("", "devca-bin-")
		if err != nil {
			buildErr = err
			return
		}
		built = tools{filepath.Join(dir, "pebble"), filepath.Join(dir, "pebble-challtestsrv")}
		for _, t := range []struct{ out, pkg string }{
			{built.pebble, "github.com/letsencrypt/pebble/v2/cmd/pebble"},
			{built.challtestsrv, "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"},
		} {
			cmd := exec.Command("go", "build", "-o", t.out, t.pkg)
			cmd.Dir = moduleDir()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", t.pkg, err, out)
				return
			}
		}
	})
	return built, buildErr
}

// moduleDir finds the mdtools module root (where go.mod pins the tools),
// walking up from the working directory.
func moduleDir() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
