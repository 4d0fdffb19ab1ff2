// Package fsread reads the files an operator names in a configuration or
// on the command line (configs, certificates, keys, CA bundles, EAB
// files): regular files only, never more than a stated size. A FIFO would
// block the reader forever, /dev/zero or a sparse file would fill memory;
// both are refused with an error that names the file and says why.
//
// Files inside the store are read by lib/store, which has its own checks
// (no symbolic links); this package is for everything outside it.
package fsread

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Limits for the kinds of files several packages read. A configuration
// file's limit belongs to its parser (apacheconf, tomlconf).
const (
	// MaxPEM bounds a PEM file: a certificate chain, a private key, a CA
	// bundle (Debian's whole ca-certificates.crt is about 220 KB).
	MaxPEM = 4 << 20
	// MaxSmall bounds small files the tools compare before rewriting
	// (challenge tokens, deployed snippets) and JSON side files (EAB).
	MaxSmall = 1 << 20
)

// ErrNotRegular is matched (errors.Is) by the error for a FIFO, a device,
// a socket or a directory.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is matched by the error for a file over the limit.
var ErrTooLarge = errors.New("file too large")

// Error is a refused file: "PATH: is a FIFO, not a regular file" or
// "PATH: larger than 4 MiB".
type Error struct {
	Path   string
	Reason string // the message without the path
	kind   error
}

func (e *Error) Error() string        { return e.Path + ": " + e.Reason }
func (e *Error) Is(target error) bool { return target == e.kind }

// ReadFile reads path whole. It must be a regular file (links to one are
// fine: the operator named them) of at most max bytes. Errors from open
// keep their type, so errors.Is(err, fs.ErrNotExist) works. The buffer is
// the caller's for good (never pooled or reused here): lib/apacheconf
// turns it into a string without a copy.
func ReadFile(path string, max int64) ([]byte, error) {
	// Refuse by type before opening: opening a device can have effects,
	// and a FIFO without a writer blocks the open itself.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, fi, max); err != nil {
		return nil, err
	}
	// O_NONBLOCK: if the file was swapped for a FIFO since the Stat, the
	// open still returns and the fstat below refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := check(path, fi, max); err != nil {
		return nil, err
	}
	// max+1: a file that grew past the limit since the fstat is caught too
	data, err := readSized(io.LimitReader(f, max+1), min(fi.Size(), max)+1)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, tooLarge(path, max)
	}
	return data, nil
}

// Check reports whether path could be read with ReadFile(path, max)
// without reading it: a missing file gives the fs.ErrNotExist error.
func Check(path string, max int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return check(path, fi, max)
}

func check(path string, fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return &Error{Path: path, Reason: "is " + kindOf(fi.Mode()) + ", not a regular file", kind: ErrNotRegular}
	}
	if fi.Size() > max {
		return tooLarge(path, max)
	}
	return nil
}

func tooLarge(path string, max int64) error {
	return &Error{Path: path, Reason: "larger than " + Size(max), kind: ErrTooLarge}
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	default:
		return "a special file"
	}
}

// Size formats a limit for messages: "4 MiB", "64 KiB", "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// readSized reads r to its end into a buffer of size bytes to start with
// (the file's size and one byte for the end): io.ReadAll grows its buffer
// by doubling, a third of it wasted and copied for every config file.
func readSized(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, 0, max(size, 512))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the file grew since fstat
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
