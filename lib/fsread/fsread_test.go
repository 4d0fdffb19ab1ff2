package fsread

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
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

	type readCase struct {
		name, path string
		max        int64
		want       string // content, or
		is         error
		msg        string
	}
	tests := []readCase{
		{name: "regular", path: regular, max: 10, want: "0123456789"},
		{name: "link to regular", path: link, max: 100, want: "0123456789"},
		{name: "one byte over", path: regular, max: 9, is: ErrTooLarge, msg: regular + ": larger than 9 bytes"},
		{name: "link to dev zero", path: zeroLink, max: MaxPEM, is: ErrNotRegular, msg: zeroLink + ": is a character device, not a regular file"},
		{name: "socket", path: sock, max: MaxPEM, is: ErrNotRegular, msg: "is a socket"},
		{name: "directory", path: dir, max: MaxPEM, is: ErrNotRegular, msg: "is a directory"},
		{name: "missing", path: filepath.Join(dir, "nope"), max: MaxPEM, is: fs.ErrNotExist},
	}
	for _, sp := range fsreadtest.Specials(t) { // /dev/zero, a FIFO, 100 MB sparse
		is := ErrNotRegular
		if strings.HasPrefix(sp.Name, "sparse") {
			is = ErrTooLarge
		}
		tests = append(tests, readCase{name: sp.Name, path: sp.Path, max: MaxPEM, is: is, msg: sp.Want})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			var err error
			fsreadtest.NoHang(t, func() { data, err = ReadFile(tc.path, tc.max) })
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
