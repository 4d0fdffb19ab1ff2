package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
)

// ProfileEnv names a file that every command writes a CPU profile to
// (go tool pprof), for measuring a stage inside a real pipeline such as
// scripts/bench-scale. Unset, nothing is profiled. "%s" in the value is
// replaced by the command's name, so one setting serves the whole pipeline.
const ProfileEnv = "MDTOOLS_CPUPROFILE"

// startProfile starts the CPU profile ProfileEnv asks for and returns the
// function that stops it; problems are reported on stderr and ignored.
func startProfile(name string) func() {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return func() {}
	}
	path = expandName(path, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", name, ProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", name, ProfileEnv, err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func expandName(path, name string) string { return strings.Replace(path, "%s", name, 1) }
