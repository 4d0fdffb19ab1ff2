package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadRegularSameAsFile: Read's descriptor path (readRegular) gives
// the bytes and the errors of the *os.File path it replaced (regularFile,
// then readBounded) on every kind of store entry: files of many sizes
// around its buffer sizes, an empty one, a FIFO, a directory and a file
// over MaxFileSize.
func TestReadRegularSameAsFile(t *testing.T) {
	s, dir := openTemp(t)
	f := s.Backend().(*FS)
	set := filepath.Join(dir, "domains", "a.org")
	must(t, os.MkdirAll(set, 0o700))
	type entry struct {
		name string
		make func(path string)
	}
	var entries []entry
	for _, n := range []int{0, 1, 511, 512, 513, 1200, 4096, 70000, 1 << 20} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		entries = append(entries, entry{name: "size", make: func(p string) { must(t, os.WriteFile(p, data, 0o600)) }})
	}
	entries = append(entries,
		entry{"fifo", func(p string) { must(t, syscall.Mkfifo(p, 0o600)) }},
		entry{"dir", func(p string) { must(t, os.Mkdir(p, 0o700)) }},
		entry{"oversized", func(p string) { must(t, os.WriteFile(p, nil, 0o600)); must(t, os.Truncate(p, MaxFileSize+1)) }},
		entry{"max size", func(p string) { must(t, os.WriteFile(p, nil, 0o600)); must(t, os.Truncate(p, MaxFileSize)) }},
	)
	root, err := f.openRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(root)
	for i, e := range entries {
		rel := filepath.Join("domains", "a.org", e.name+string(rune('a'+i)))
		e.make(filepath.Join(dir, rel))
		open := func() int {
			// as openBeneath opens it (openat2 adds only the resolve rules)
			fd, err := syscall.Openat(root, rel, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			return fd
		}
		got, gotErr := f.readRegular(open(), rel)
		var want []byte
		fh, wantErr := f.regularFile(open(), rel)
		if wantErr == nil {
			want, wantErr = f.readBounded(fh, rel)
			fh.Close()
		}
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) ||
			(gotErr != nil && (gotErr.Error() != wantErr.Error() || !errors.Is(gotErr, ErrNotRegular) && !errors.Is(gotErr, ErrTooLarge))) {
			t.Errorf("%s: readRegular %d bytes, %v; *os.File %d bytes, %v", rel, len(got), gotErr, len(want), wantErr)
		}
	}
}
