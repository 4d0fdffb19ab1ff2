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

// MemProfileEnv names a file that every command writes a heap profile to
// when it ends, "%s" as in ProfileEnv. A batch stage still holds all its
// records then, so the in-use space is close to its peak.
const MemProfileEnv = "MDTOOLS_MEMPROFILE"

// startProfile starts the CPU profile ProfileEnv asks for and returns the
// function that stops it; problems are reported on stderr and ignored.
func startProfile(name string) func() {
	stopCPU := startCPUProfile(name)
	return func() {
		stopCPU()
		writeHeapProfile(name)
	}
}

func startCPUProfile(name string) func() {
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

// writeHeapProfile writes the heap profile MemProfileEnv asks for.
func writeHeapProfile(name string) {
	path := os.Getenv(MemProfileEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(expandName(path, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", name, MemProfileEnv, err)
	}
}
