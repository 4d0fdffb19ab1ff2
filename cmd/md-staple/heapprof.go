package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// heapProfileEnv names a file md-staple writes a heap profile to (go tool
// pprof) every heldEvery records it reads, each replacing the last, for
// measuring what a run over many records keeps. Unset, nothing is written.
const heapProfileEnv = "MDTOOLS_HEAPPROFILE"

// writeHeapProfile writes the heap profile heapProfileEnv asks for;
// problems are reported on stderr and ignored.
func writeHeapProfile() {
	path := os.Getenv(heapProfileEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "md-staple: %s: %v\n", heapProfileEnv, err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "md-staple: %s: %v\n", heapProfileEnv, err)
	}
}
