package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProfileEnv: MDTOOLS_CPUPROFILE (MDTOOLS_MEMPROFILE) makes a command
// write a CPU (heap) profile, %s naming the command; unset, nothing is
// written; a path that cannot be written is reported and the command runs
// on.
func TestProfileEnv(t *testing.T) {
	for _, env := range []string{ProfileEnv, MemProfileEnv} {
		t.Run(env, func(t *testing.T) { testProfileEnv(t, env) })
	}
}

func testProfileEnv(t *testing.T, env string) {
	dir := t.TempDir()
	tests := []struct {
		name, value, want string
	}{
		{"command name", filepath.Join(dir, "%s.prof"), filepath.Join(dir, "md-test.prof")},
		{"plain file", filepath.Join(dir, "one.prof"), filepath.Join(dir, "one.prof")},
		{"unset", "", ""},
		{"unwritable", filepath.Join(dir, "missing", "x.prof"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(env, tc.value)
			stop := startProfile("md-test")
			stop()
			if tc.want == "" {
				return
			}
			fi, err := os.Stat(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: size %d, mode %v; want a profile, 0600", tc.want, fi.Size(), fi.Mode().Perm())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files in %s, want the 2 profiles", len(entries), dir)
	}
}
