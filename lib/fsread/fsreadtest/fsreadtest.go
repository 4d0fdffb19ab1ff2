// Package fsreadtest makes the hostile files every entry point that reads
// a file named by config or flags is tested with: /dev/zero, a FIFO
// without a writer, and a 100 MB sparse file.
package fsreadtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Special is one hostile file and a substring of the error it must give.
type Special struct {
	Name string
	Path string
	Want string
}

// Specials returns /dev/zero, a FIFO and a 100 MB sparse file (no disk
// used) in a temporary directory. A reader that blocks on the FIFO anyway
// is released when the test ends, so a failing test does not hang the
// package.
func Specials(t testing.TB) []Special {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	sparse := filepath.Join(dir, "sparse.pem")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return []Special{
		{"dev zero", "/dev/zero", "/dev/zero: is a character device, not a regular file"},
		{"fifo", fifo, fifo + ": is a FIFO, not a regular file"},
		{"sparse 100 MB", sparse, sparse + ": larger than "},
	}
}

// NoHang runs fn and fails the test if it does not return. The generous
// deadline only detects a hang (a FIFO opened for reading); it does not
// measure speed.
func NoHang(t testing.TB, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("blocked: the read never returned (a FIFO must be refused, not waited on)")
	}
}
