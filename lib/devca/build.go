package devca

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

type tools struct{ pebble, challtestsrv string }

var (
	buildOnce sync.Once
	built     tools
	buildErr  error
)

// toolPkgs are the servers devca runs, pinned as tools in go.mod.
var toolPkgs = []struct{ name, pkg string }{
	{"pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble"},
	{"pebble-challtestsrv", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"},
}

// buildTools returns Pebble and challtestsrv at the versions pinned in
// go.mod. They are built once into a cache directory shared by every test
// process (UserCacheDir/mdtools-devca/<key>, key = go.mod, go.sum and the
// Go version), so a test run neither rebuilds nor leaves 23 MB behind in
// /tmp. Set MDTOOLS_PEBBLE_BIN_DIR to a directory holding prebuilt "pebble"
// and "pebble-challtestsrv" binaries to skip the cache.
func buildTools() (tools, error) {
	buildOnce.Do(func() {
		if d := os.Getenv("MDTOOLS_PEBBLE_BIN_DIR"); d != "" {
			built = tools{filepath.Join(d, "pebble"), filepath.Join(d, "pebble-challtestsrv")}
			return
		}
		root, err := cacheRoot()
		if err != nil {
			buildErr = err
			return
		}
		var dir string
		dir, buildErr = cachedBuild(root, moduleDir())
		built = tools{filepath.Join(dir, "pebble"), filepath.Join(dir, "pebble-challtestsrv")}
	})
	return built, buildErr
}

// cacheRoot is the user's cache dir for devca binaries, created 0700 and
// refused when someone else could have planted binaries in it.
func cacheRoot() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = filepath.Join(os.TempDir(), fmt.Sprintf("mdtools-cache-%d", os.Getuid()))
	}
	root := filepath.Join(base, "mdtools-devca")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("devca: creating binary cache: %w", err)
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || (ok && int(st.Uid) != os.Getuid()) {
		return "", fmt.Errorf("devca: binary cache %s is not a private directory of this user (mode %v); remove it", root, fi.Mode())
	}
	return root, nil
}

// cacheKey names one build: the module's go.mod and go.sum pin Pebble and
// everything it links, and the Go version decides the compiler.
func cacheKey(modDir string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", fmt.Errorf("devca: reading %s for the binary cache key: %w", f, err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// cachedBuild returns root/<key>, building it first when absent. The
// build goes to a temp dir in root that is renamed into place, so
// concurrent test processes never see half a build: the first rename wins
// and the others drop theirs.
func cachedBuild(root, modDir string) (string, error) {
	key, err := cacheKey(modDir)
	if err != nil {
		return "", err
	}
	final := filepath.Join(root, key)
	if complete(final) {
		now := time.Now()
		_ = os.Chtimes(final, now, now) // marks it used for prune
		return final, nil
	}
	prune(root, key)
	tmp, err := os.MkdirTemp(root, "tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for _, t := range toolPkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, t.name), t.pkg)
		cmd.Dir = modDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", t.pkg, err, out)
		}
	}
	if err := os.Rename(tmp, final); err != nil && !complete(final) {
		return "", fmt.Errorf("devca: installing built tools: %w", err)
	}
	return final, nil
}

// complete reports whether dir holds every tool binary.
func complete(dir string) bool {
	for _, t := range toolPkgs {
		fi, err := os.Lstat(filepath.Join(dir, t.name))
		if err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// pruneAge is how long an unused build (another go.mod, an older Go) or an
// abandoned temp dir (a killed build) stays in the cache.
const pruneAge = 7 * 24 * time.Hour

// prune removes builds other than key that were not used for pruneAge,
// and temp dirs of builds that were killed an hour or more ago.
func prune(root, key string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() == key {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		age := time.Since(fi.ModTime())
		isTmp := strings.HasPrefix(e.Name(), "tmp-")
		if (isTmp && age > time.Hour) || (!isTmp && age > pruneAge) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
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
