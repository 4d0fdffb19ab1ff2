package memo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// spill keeps the answers remembered in this run encoded in an unlinked
// temp file in the store directory instead of as objects in memory. On a
// stage's first run after an upgrade every MD's answer is new, and held
// until Save they were 60-65 MB of its live heap over 100,000 MDs (about
// twice that of its peak RSS). What stays in memory is a few dozen bytes
// an answer: where it is in the file.
//
// The file is unlinked as soon as it is created, so a crash leaves
// nothing behind; it is gone when the memo is closed.
type spill struct {
	f    *os.File
	w    *bufio.Writer
	size int64            // bytes written through w
	at   map[Key]spillRef // the current answer of each key
	log  []spillRec       // every answer written, in file order
	buf  []byte
	err  error // the first write error: the file is no longer used
}

type spillRef struct {
	off int64
	n   uint32
}

type spillRec struct {
	key   Key
	n     uint32
	until int64
}

// spillBuffer is what the spill writes at once.
const spillBuffer = 256 << 10

// spillSeq tells apart the spill files of the memos one process has open.
var spillSeq atomic.Uint64

// newSpill creates the spill file in dir (no symlink followed, 0600) and
// unlinks it at once.
func newSpill(dir, stage string) (*spill, error) {
	name := filepath.Join(dir, fmt.Sprintf("%s.%d-%d.spill.tmp", FileName(stage), os.Getpid(), spillSeq.Add(1)))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(name); err != nil {
		f.Close()
		os.Remove(name)
		return nil, err
	}
	return &spill{f: f, w: bufio.NewWriterSize(f, spillBuffer), at: map[Key]spillRef{}}, nil
}

// put writes the entry for key; false when the file cannot take it.
func (s *spill) put(key Key, e *Entry) bool {
	if s.err != nil {
		return false
	}
	s.buf = appendEntry(s.buf[:0], key, e)
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
		return false
	}
	n := uint32(len(s.buf))
	s.at[key] = spillRef{off: s.size, n: n}
	s.log = append(s.log, spillRec{key: key, n: n, until: e.Until})
	s.size += int64(n)
	return true
}

// get reads back the current entry for key; nil if there is none (or it
// cannot be read: then it is simply not remembered).
func (s *spill) get(key Key) *Entry {
	ref, ok := s.at[key]
	if !ok || s.err != nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		s.err = err
		return nil
	}
	b := make([]byte, ref.n)
	if _, err := s.f.ReadAt(b, ref.off); err != nil {
		return nil
	}
	_, e, err := decodeEntry(b)
	if err != nil {
		return nil
	}
	return e
}

// live calls fn for every current entry whose time is not up at now, in
// file order, with its encoding (valid until fn returns).
func (s *spill) live(now int64, fn func(raw []byte)) error {
	if s.err != nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		s.err = err
		return err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), spillBuffer)
	var off int64
	for _, rec := range s.log {
		if cap(s.buf) < int(rec.n) {
			s.buf = make([]byte, rec.n)
		}
		b := s.buf[:rec.n]
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("reading back the memo's spill file: %w", err)
		}
		if s.current(rec, off, now) {
			fn(b)
		}
		off += int64(rec.n)
	}
	return nil
}

// count is the number of current entries whose time is not up at now.
func (s *spill) count(now int64) int {
	n := 0
	var off int64
	for _, rec := range s.log {
		if s.current(rec, off, now) {
			n++
		}
		off += int64(rec.n)
	}
	return n
}

// current reports whether the entry written at off is its key's current
// one (not replaced or forgotten) and its time is not up at now.
func (s *spill) current(rec spillRec, off, now int64) bool {
	ref, ok := s.at[rec.key]
	return ok && ref.off == off && rec.until > now
}

func (s *spill) close() {
	s.f.Close()
	s.err = errors.New("closed")
}
