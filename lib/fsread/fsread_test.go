package fsread

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Special files every entry point is tested with; the FIFO has no writer,
// so a reader that opens it blocking hangs.
func specials(t *testing.T) (dir, fifo, sparse string) {
	t.Helper()
	dir = t.TempDir()
	fifo = filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// a writer opened at cleanup releases a reader that blocked anyway,
	// so a failing test ends instead of hanging the package
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	sparse = filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir, fifo, sparse
}

// noHang fails the test when fn does not return: reading a FIFO must not
// wait for a writer. The generous deadline only detects a hang.
func noHang(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("blocked: the read never returned")
	}
}

func TestReadFile(t *testing.T) {
	dir, fifo, sparse := specials(t)
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	zeroLink := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	tests := []struct {
		name, path string
		max        int64
		want       string // content, or
		is         error
		msg        string
	}{
		{name: "regular", path: regular, max: 10, want: "0123456789"},
		{name: "link to regular", path: link, max: 100, want: "0123456789"},
		{name: "one byte over", path: regular, max: 9, is: ErrTooLarge, msg: regular + ": larger than 9 bytes"},
		{name: "dev zero", path: "/dev/zero", max: MaxPEM, is: ErrNotRegular, msg: "/dev/zero: is a character device, not a regular file"},
		{name: "link to dev zero", path: zeroLink, max: MaxPEM, is: ErrNotRegular, msg: zeroLink + ": is a character device, not a regular file"},
		{name: "fifo", path: fifo, max: MaxPEM, is: ErrNotRegular, msg: fifo + ": is a FIFO, not a regular file"},
		{name: "socket", path: sock, max: MaxPEM, is: ErrNotRegular, msg: "is a socket"},
		{name: "directory", path: dir, max: MaxPEM, is: ErrNotRegular, msg: "is a directory"},
		{name: "sparse 100 MB", path: sparse, max: MaxPEM, is: ErrTooLarge, msg: sparse + ": larger than 4 MiB"},
		{name: "missing", path: filepath.Join(dir, "nope"), max: MaxPEM, is: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			var err error
			noHang(t, func() { data, err = ReadFile(tc.path, tc.max) })
			if tc.is == nil {
				if err != nil || string(data) != tc.want {
					t.Fatalf("got %q, %v; want %q", data, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("got %v; want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %q; want it to contain %q", err, tc.msg)
			}
			if cerr := Check(tc.path, tc.max); !errors.Is(cerr, tc.is) {
				t.Errorf("Check: got %v; want %v", cerr, tc.is)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{4 << 20: "4 MiB", 64 << 10: "64 KiB", 100: "100 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q; want %q", n, got, want)
		}
	}
}
