package memo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MaxFile bounds a memo file (about 400 bytes per MD: 100,000 MDs take
// about 40 MB).
const MaxFile = 512 << 20

const magic = "mdtools-memo 2\n"

// FileName is the memo file of a stage in the store root.
func FileName(stage string) string { return "memo-" + stage + ".bin" }

// IsFile reports whether a root file name is a memo or a memo's temp
// file: a cache of this store's own files (inodes and all), never copied
// to another store.
func IsFile(name string) bool {
	return strings.HasPrefix(name, "memo-") && (strings.HasSuffix(name, ".bin") || strings.Contains(name, ".bin.") && strings.HasSuffix(name, ".tmp"))
}

// Open reads the stage's memo in the store directory dir. context names
// what else the answers depend on (the mdtools version): a memo written
// with another context is empty. A memo that cannot be read is empty too;
// err says why (for -v), and a store directory that cannot be opened
// gives a memo that never matches.
func Open(dir, stage, context string) (*Memo, error) {
	m := &Memo{dir: dir, stage: stage, context: context, byKey: map[Key]*Entry{}}
	fds, err := openDirs(dir)
	if err != nil {
		return m, err
	}
	m.fds = fds
	// asked directly, not through the root's listing: at 100,000 MDs the
	// root holds 100,000 files, which a stage without root paths
	// (md-staple) never needs listed
	m.global, _ = m.FingerprintUnlisted([]Path{{Name: "md_store.json"}})
	// a memo of another build or store key is not read past its header:
	// after an upgrade it is hundreds of MB over 100,000 MDs
	head := binary.LittleEndian.AppendUint64(appendString([]byte(magic), context), m.global)
	data, err := readBounded(filepath.Join(dir, FileName(stage)), head)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errOtherHeader) {
			err = nil
		}
		return m, err
	}
	if err := m.decode(data); err != nil {
		m.data, m.index = nil, nil
		return m, fmt.Errorf("%s: %w (ignored)", FileName(stage), err)
	}
	return m, nil
}

// Dir is the store directory of the memo.
func (m *Memo) Dir() string { return m.dir }

// Close releases the directory handles.
func (m *Memo) Close() {
	if m.fds != nil {
		m.fds.close()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.spill != nil {
		m.spill.close()
	}
}

// Save writes the memo if it changed (temp file and rename; no fsync: a
// memo lost in a crash only costs the next run its speed, and a torn one
// fails its checksum). Temp files of crashed runs older than an hour are
// removed.
func (m *Memo) Save() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty || m.fds == nil {
		return nil
	}
	name := filepath.Join(m.dir, FileName(m.stage))
	sweepTemps(m.dir, FileName(m.stage))
	// written as it is encoded: over 100,000 MDs the file is hundreds of
	// MB, which a buffer would add to the entries already held
	return replaceFileWith(name, m.encodeTo)
}

// replaceFile writes data to a new temp file beside name (0600, no
// symlink followed) and renames it over name; no fsync (see Save).
func replaceFile(name string, data []byte) error {
	return replaceFileWith(name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// replaceFileWith is replaceFile with the content written by write.
func replaceFileWith(name string, write func(io.Writer) error) error {
	tmp := name + "." + strconv.Itoa(os.Getpid()) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func sweepTemps(dir, base string) {
	olds, _ := filepath.Glob(filepath.Join(dir, base+".*.tmp"))
	for _, p := range olds {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(p)
		}
	}
}

// readBounded reads a regular file that is no symlink, FIFO or device,
// at most MaxFile bytes. With head, a file that does not start with it is
// not read further (errOtherHeader; errCorrupt when it is no memo at all).
func readBounded(path string, head []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s: a symlink: refused", path)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file: refused", path)
	}
	if fi.Size() > MaxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: refused", path, MaxFile)
	}
	// one buffer of the size fstat said (ReadAll's doubling would hold up
	// to twice a memo of tens of MB); a file that grew meanwhile is
	// refused, one that shrank read as it is
	if len(head) > 0 {
		got := make([]byte, len(head))
		_, err := io.ReadFull(f, got)
		switch {
		case err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
			return nil, err
		case !bytes.HasPrefix(got, []byte(magic)):
			return nil, errCorrupt
		case err != nil || !bytes.Equal(got, head):
			return nil, errOtherHeader
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	data := make([]byte, fi.Size()+1)
	n, err := io.ReadFull(f, data)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%s: changed while read: refused", path)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return data[:n:n], nil
	}
	return nil, err
}

func (m *Memo) encode() []byte {
	var b bytes.Buffer
	_ = m.encodeTo(&b) // a bytes.Buffer takes every write
	return b.Bytes()
}

// encodeTo writes the memo file: the entries of the file read that still
// hold and are not replaced, then this run's, then the checksum of all.
// Answers whose time is up can never be used again: MDs that left the
// configuration do not stay in the memo for ever.
func (m *Memo) encodeTo(out io.Writer) error {
	now := time.Now().UnixNano()
	var kept [][]byte
	for k, span := range m.index {
		if m.mine(k) || m.removed[k] {
			continue
		}
		raw := m.data[span[0]:span[1]]
		if _, e, err := decodeEntry(raw); err != nil || e.Until <= now {
			continue
		}
		kept = append(kept, raw) // copied as it was
	}
	n := len(kept)
	for _, e := range m.byKey {
		if e.Until > now {
			n++
		}
	}
	if m.spill != nil {
		n += m.spill.count(now)
	}
	w := &crcWriter{w: bufio.NewWriterSize(out, 1<<20)}
	b := append([]byte(magic), nil...)
	b = appendString(b, m.context)
	b = binary.LittleEndian.AppendUint64(b, m.global)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	w.write(b)
	for _, raw := range kept {
		w.write(raw)
	}
	for k, e := range m.byKey {
		if e.Until > now {
			b = appendEntry(b[:0], k, e)
			w.write(b)
		}
	}
	if m.spill != nil {
		if err := m.spill.live(now, w.write); err != nil {
			return err
		}
	}
	w.write(binary.LittleEndian.AppendUint32(b[:0], w.sum))
	if w.err != nil {
		return w.err
	}
	return w.w.Flush()
}

// crcWriter writes through a buffer and sums what it wrote; the first
// error sticks.
type crcWriter struct {
	w   *bufio.Writer
	sum uint32
	err error
}

func (c *crcWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	c.sum = crc32.Update(c.sum, crcTable, b)
	_, c.err = c.w.Write(b)
}

// appendEntry encodes one entry (see decodeEntry).
func appendEntry(b []byte, k Key, e *Entry) []byte {
	b = append(b, k[:]...)
	b = appendString(b, e.Name)
	b = appendString(b, e.RecStore)
	b = binary.LittleEndian.AppendUint64(b, e.Stat)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Decided))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Until))
	b = appendString(b, string(e.TailA))
	b = appendString(b, string(e.TailB))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e.Extra)))
	for _, x := range e.Extra {
		b = appendString(b, x)
	}
	if e.HasAt {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("corrupt memo")

// errOtherHeader: the file does not start as the caller's would (another
// build, another store key, or not a memo), so it is not read.
var errOtherHeader = errors.New("memo of another version")

// decode checks the whole file (header, checksum, every entry) and
// indexes its entries; they are decoded only when used (a memo of 100,000
// MDs is tens of MB: as objects it would be several times that).
func (m *Memo) decode(data []byte) error {
	if len(data) < len(magic)+4 || string(data[:len(magic)]) != magic {
		return errCorrupt
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return errors.New("checksum mismatch")
	}
	r := &reader{b: body[len(magic):]}
	if r.str() != m.context || r.u64() != m.global {
		return nil // another version or another store key: start afresh
	}
	n := int(r.u32())
	index := make(map[Key][2]uint32, min(n, len(r.b)/32))
	for i := 0; i < n; i++ {
		start := len(body) - len(r.b)
		size, name, ok := skipEntry(r.b)
		if !ok {
			return errCorrupt
		}
		r.b = r.b[size:]
		if validName(name) {
			var k Key
			copy(k[:], body[start:start+len(k)])
			index[k] = [2]uint32{uint32(start), uint32(start + size)}
		}
	}
	if len(r.b) != 0 {
		return errCorrupt
	}
	m.data, m.index = body, index
	return nil
}

// decodeEntry reads the entry at the start of b: its size and the entry
// (tails are slices of b, not copies).
func decodeEntry(b []byte) (int, *Entry, error) {
	r := &reader{b: b}
	r.take(len(Key{}))
	e := &Entry{Name: r.str(), RecStore: r.str(), Stat: r.u64(), Decided: int64(r.u64()), Until: int64(r.u64())}
	e.TailA, e.TailB = r.bytes(), r.bytes()
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		x := r.str()
		if !filepath.IsAbs(x) {
			r.err = errCorrupt
		}
		e.Extra = append(e.Extra, x)
	}
	flag := r.take(1)
	e.HasAt = flag != nil && flag[0] == 1
	if r.err != nil {
		return 0, nil, errCorrupt
	}
	return len(b) - len(r.b), e, nil
}

// skipEntry checks the entry at the start of b as decodeEntry does and
// returns its size and name without decoding it: Open indexes every
// entry, but a run decodes only those it looks up (FuzzSkipEntry).
func skipEntry(b []byte) (size int, name []byte, ok bool) {
	r := &reader{b: b}
	r.take(len(Key{}))
	nameB := r.bytes()
	r.bytes()  // RecStore
	r.take(24) // Stat, Decided, Until
	r.bytes()  // TailA
	r.bytes()  // TailB
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if x := r.bytes(); len(x) == 0 || x[0] != '/' { // filepath.IsAbs
			r.err = errCorrupt
		}
	}
	r.take(1) // HasAt
	if r.err != nil {
		return 0, nil, false
	}
	return len(b) - len(r.b), nameB, true
}

// entryName is the MD name of the entry at the start of b.
func entryName(b []byte) (string, bool) {
	r := &reader{b: b}
	r.take(len(Key{}))
	name := r.str()
	return name, r.err == nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errCorrupt
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) bytes() []byte {
	n := r.u32()
	b := r.take(int(n))
	return b[:len(b):len(b)] // appending to it must not overwrite the next entry
}

// dirFDs holds the store root and its group directories open (O_PATH, no
// symlink followed), so that a fingerprint is one fstatat per path. The
// groups where most MDs have nothing (the root's per-MD files, staging/,
// tmp/) are listed once instead: asking for 100,000 names that are not
// there costs more than reading the few that are, and fills the kernel's
// cache with negative entries.
type dirFDs struct {
	root     int
	mu       sync.Mutex
	groups   map[string]int
	listings map[string]map[string]bool // nil value: could not list
	outside  map[string]int             // directories of extra paths, see lstatAbs
}

// maxOutside bounds the directories outside the store held open.
const maxOutside = 64

// lstatAbs is unix.Lstat of an absolute path outside the store, walked
// from its grandparent held open (a deploy directory's files: the deploy
// root is the same for every MD, so each stat walks two names instead of
// the whole path).
func (d *dirFDs) lstatAbs(p string, st *unix.Stat_t) error {
	dir := filepath.Dir(p)
	top, rel := filepath.Dir(dir), filepath.Base(dir)+"/"+filepath.Base(p)
	d.mu.Lock()
	fd, ok := d.outside[top]
	if !ok && len(d.outside) < maxOutside {
		var err error
		if fd, err = unix.Open(top, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			if d.outside == nil {
				d.outside = map[string]int{}
			}
			d.outside[top], ok = fd, true
		}
	}
	d.mu.Unlock()
	if !ok || !filepath.IsAbs(p) || top == dir {
		return unix.Lstat(p, st)
	}
	return unix.Fstatat(fd, rel, st, unix.AT_SYMLINK_NOFOLLOW)
}

// listedGroups are the groups dirFDs lists instead of asking per name.
var listedGroups = map[string]bool{"": true, "staging": true, "tmp": true}

// absent reports whether the path is known not to exist from its group's
// listing (made on first use, so a memo's view is as of then).
func (d *dirFDs) absent(p Path) bool {
	if !listedGroups[p.Group] {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	names, ok := d.listings[p.Group]
	if !ok {
		names = d.list(p.Group)
		if d.listings == nil {
			d.listings = map[string]map[string]bool{}
		}
		d.listings[p.Group] = names
	}
	return names != nil && !names[p.Name]
}

// list reads the names in a group directory (the root for ""); nil when
// it cannot.
func (d *dirFDs) list(g string) map[string]bool {
	name := "."
	if g != "" {
		name = g
	}
	fd, err := unix.Openat(d.root, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return map[string]bool{} // no such group: nothing in it
		}
		return nil
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

func openDirs(dir string) (*dirFDs, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &dirFDs{root: fd, groups: map[string]int{}}, nil
}

func (d *dirFDs) group(g string) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fd, ok := d.groups[g]; ok {
		return fd, nil
	}
	if !validName(g) {
		return -1, unix.EINVAL
	}
	fd, err := unix.Openat(d.root, g, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	d.groups[g] = fd
	return fd, nil
}

func (d *dirFDs) lstat(p Path, st *unix.Stat_t) error {
	if !validName(p.Name) {
		return unix.EINVAL
	}
	fd := d.root
	if p.Group != "" {
		var err error
		if fd, err = d.group(p.Group); err != nil {
			return err
		}
	}
	return unix.Fstatat(fd, p.Name, st, unix.AT_SYMLINK_NOFOLLOW)
}

func (d *dirFDs) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, fd := range d.groups {
		unix.Close(fd)
	}
	for _, fd := range d.outside {
		unix.Close(fd)
	}
	unix.Close(d.root)
}
