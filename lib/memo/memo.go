// Package memo lets a record stage skip an MD whose answer cannot have
// changed since the last run: same input line, same store files, and a
// time before which nothing is due. A cron run over 10,000 MDs that are
// all fine then reads a few directory entries per MD instead of its
// certificates, job and OCSP files, and copies the remembered answer
// instead of decoding and encoding the record.
//
// A memo is a cache, never a source of truth: a missing, unreadable,
// corrupt or foreign memo is an empty one, and an entry is used only when
//
//   - the input line is byte for byte the one the stage answered (the
//     "at" times of earlier stages aside, see KeyOf),
//   - every store directory and file the answer read has the same inode,
//     size, mode, mtime and ctime as when it was answered (Fingerprint;
//     the store replaces files by rename, so a changed file changes its
//     directory), and md_store.json (the store key) is unchanged,
//   - the stage's clock is between the time of the answer and the time
//     the stage said it stays valid (the renew-at, the next ARI check...),
//   - it was written by the same mdtools version for the same stage.
//
// A stage remembers an answer only when nothing changed while it was
// worked out and no file it read was modified within Margin of the check
// (file times are coarse: a later change in the same tick would not show).
package memo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Margin is how old every file an answer read must be before the answer is
// remembered.
const Margin = 2 * time.Second

// Path is a store directory or file an answer read: Group "" is a file at
// the store root (revoked-<md>.json), otherwise the MD's directory in the
// group (domains/<md>).
type Path struct{ Group, Name string }

// Key identifies an input line (KeyOf).
type Key [16]byte

// Entry is one remembered answer.
type Entry struct {
	Name     string // the MD
	RecStore string // the record's own "store" field, for the choice of store
	Stat     uint64 // Fingerprint of the paths when answered
	Decided  int64  // the stage clock's time of the answer (Unix ns)
	Until    int64  // the answer may change from this time on (Unix ns)
	// Extra are absolute paths outside the store the answer read (a
	// deploy directory's files), part of Stat.
	Extra []string
	// The output line is the input line without its closing brace, then
	// TailA, the time of the run as a JSON string, TailB ("at" of the
	// stage's own section); without an "at", TailA alone.
	TailA, TailB []byte
	HasAt        bool
}

// Memo is one stage's memo in one store directory.
type Memo struct {
	dir, stage, context string
	global              uint64 // md_store.json
	fds                 *dirFDs

	mu    sync.Mutex
	data  []byte            // the memo file as read
	index map[Key][2]uint32 // entries in data: [start, end) of each, decoded on use
	// spill holds the answers remembered in this run (see spill), byKey
	// those it could not (no spill file); removed are entries of data
	// replaced or forgotten; byName (built on the first Put or Forget,
	// before anything is remembered) finds an MD's key in all of them.
	spill      *spill
	spillTried bool
	byKey      map[Key]*Entry
	removed    map[Key]bool
	byName     map[string]Key
	dirty      bool
}

// KeyOf hashes an input line, skipping the values of "at" members (the
// time an earlier stage ran changes on every run) and of "source" objects
// (where md-parse found the MD, which depends on how the config's path was
// spelt): no stage decides by either, and the replayed output carries the
// line's own values.
func KeyOf(line []byte) Key {
	h := sha256.New()
	rest := line
	for {
		i, skip := nextSkipped(rest)
		if i < 0 {
			h.Write(rest)
			break
		}
		h.Write(rest[:i])
		rest = rest[i+skip(rest[i:]):]
	}
	var k Key
	copy(k[:], h.Sum(nil))
	return k
}

// nextSkipped finds the next value KeyOf skips: its offset (after the
// member name) and how to measure it; -1 when there is none.
func nextSkipped(b []byte) (int, func([]byte) int) {
	a := bytes.Index(b, atMember)
	s := bytes.Index(b, sourceMember)
	switch {
	case a < 0 && s < 0:
		return -1, nil
	case s < 0 || a >= 0 && a < s:
		return a + len(atMember), stringLen
	default:
		return s + len(sourceMember), objectLen
	}
}

// stringLen is the length of the rest of a JSON string whose opening
// quote is already consumed, up to (not including) its closing quote.
func stringLen(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b)
}

// objectLen is the length of the rest of a flat JSON object whose opening
// brace is already consumed, up to (not including) its closing brace.
func objectLen(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i += 1 + stringLen(b[i+1:])
		case '}':
			return i
		}
	}
	return len(b)
}

var sourceMember = []byte(`"source":{`)

var atMember = []byte(`"at":"`)

// Lookup returns the entry for key if it may be used at now: see the
// package comment.
func (m *Memo) Lookup(key Key, now time.Time, paths func(name string) []Path) (*Entry, bool) {
	e, ok := m.Candidate(key, now)
	if !ok || !m.Valid(e, paths) {
		return nil, false
	}
	return e, true
}

// Candidate is the first half of Lookup: the entry for key whose time
// window holds at now, its paths not yet checked (Valid).
func (m *Memo) Candidate(key Key, now time.Time) (*Entry, bool) {
	m.mu.Lock()
	e := m.entry(key)
	m.mu.Unlock()
	if e == nil {
		return nil, false
	}
	if t := now.UnixNano(); t < e.Decided || t >= e.Until {
		return nil, false
	}
	return e, true
}

// entry is the live entry for key, decoded from data if need be; nil if
// none. Called with mu held.
func (m *Memo) entry(key Key) *Entry {
	if e, ok := m.byKey[key]; ok {
		return e
	}
	if m.spill != nil {
		if _, ok := m.spill.at[key]; ok {
			return m.spill.get(key)
		}
	}
	if m.removed[key] {
		return nil
	}
	if span, ok := m.index[key]; ok {
		_, e, err := decodeEntry(m.data[span[0]:span[1]])
		if err == nil {
			return e
		}
	}
	return nil
}

// Valid is the second half of Lookup: the paths the entry depends on are
// as they were when it was remembered.
func (m *Memo) Valid(e *Entry, paths func(name string) []Path) bool {
	sum, _ := m.Fingerprint(paths(e.Name), e.Extra)
	return sum == e.Stat
}

// Put remembers e for key, replacing what was remembered for the MD.
func (m *Memo) Put(key Key, e *Entry) {
	if !validName(e.Name) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names()
	if old, ok := m.byName[e.Name]; ok && old != key {
		m.drop(old)
	}
	if !m.spillTried && m.fds != nil {
		m.spillTried = true
		m.spill, _ = newSpill(m.dir, m.stage) // without it, entries stay in memory
	}
	if m.spill != nil && m.spill.put(key, e) {
		delete(m.byKey, key)
	} else {
		if m.spill != nil {
			delete(m.spill.at, key)
		}
		m.byKey[key] = e
	}
	m.byName[e.Name] = key
	m.dirty = true
}

// Forget drops what was remembered for the MD (an answer that cannot be
// remembered replaces an older one).
func (m *Memo) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names()
	if k, ok := m.byName[name]; ok {
		m.drop(k)
		delete(m.byName, name)
		m.dirty = true
	}
}

// Keep forgets every MD keep says no to (MDs no longer in the store, for
// a stage whose answers never time out) and returns how many it forgot.
func (m *Memo) Keep(keep func(name string) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names()
	n := 0
	for name, k := range m.byName {
		if !keep(name) {
			m.drop(k)
			delete(m.byName, name)
			m.dirty = true
			n++
		}
	}
	return n
}

// drop removes the entry for key. Called with mu held.
func (m *Memo) drop(key Key) {
	delete(m.byKey, key)
	if m.spill != nil {
		delete(m.spill.at, key)
	}
	if _, ok := m.index[key]; ok {
		if m.removed == nil {
			m.removed = map[Key]bool{}
		}
		m.removed[key] = true
	}
}

// mine reports whether this run remembered an answer for key. Called
// with mu held.
func (m *Memo) mine(key Key) bool {
	if _, ok := m.byKey[key]; ok {
		return true
	}
	if m.spill != nil {
		_, ok := m.spill.at[key]
		return ok
	}
	return false
}

// names builds byName from data and byKey, once. Called with mu held.
func (m *Memo) names() {
	if m.byName != nil {
		return
	}
	m.byName = make(map[string]Key, len(m.index)+len(m.byKey))
	for k, span := range m.index {
		if name, ok := entryName(m.data[span[0]:span[1]]); ok && !m.removed[k] {
			m.byName[name] = k
		}
	}
	for k, e := range m.byKey {
		m.byName[e.Name] = k
	}
}

// Len is the number of remembered answers.
func (m *Memo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.byKey)
	if m.spill != nil {
		n += len(m.spill.at)
	}
	for k := range m.index {
		if !m.mine(k) && !m.removed[k] {
			n++
		}
	}
	return n
}

// Size is how many bytes of memo file m holds (the entries read from it).
func (m *Memo) Size() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}

// Output is the output line for the input line in (without its newline)
// at now.
func (e *Entry) Output(in []byte, now time.Time) []byte {
	return e.AppendOutput(nil, in, now)
}

// AppendOutput appends the output line to b (no newline): for a caller
// that writes many lines into one buffer without a copy each.
func (e *Entry) AppendOutput(b, in []byte, now time.Time) []byte {
	in = bytes.TrimRight(in, " \t\r")
	b = append(b, in[:len(in)-1]...)
	b = append(b, e.TailA...)
	if e.HasAt {
		b = append(b, '"')
		b = now.UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, '"')
		b = append(b, e.TailB...)
	}
	return b
}

// Split finds the tail the stage added to the input line in to make out
// and cuts the value of its "at" member out of it; ok is false when out is
// not in with a tail added (the stage changed what it was given), so the
// answer cannot be replayed.
func Split(in, out []byte) (e Entry, ok bool) {
	in = bytes.TrimRight(in, " \t\r")
	if len(in) < 2 || in[len(in)-1] != '}' || !bytes.HasPrefix(out, in[:len(in)-1]) {
		return Entry{}, false
	}
	tail := out[len(in)-1:]
	if len(tail) < 2 || tail[0] != ',' || tail[len(tail)-1] != '}' {
		return Entry{}, false
	}
	i := bytes.Index(tail, atMember)
	if i < 0 {
		e.TailA = bytes.Clone(tail)
		return e, true
	}
	i += len(atMember) - 1 // at the value's opening quote
	j := bytes.IndexByte(tail[i+1:], '"')
	if j < 0 || bytes.Contains(tail[i+1+j+1:], atMember) {
		return Entry{}, false // more than one "at": not a shape we replay
	}
	e.TailA = bytes.Clone(tail[:i])
	e.TailB = bytes.Clone(tail[i+1+j+1:])
	e.HasAt = true
	return e, true
}

// Fingerprint sums what lstat says about the store paths and the extra
// absolute paths (absent ones too); settled is false when one was
// modified within Margin of now, so that a change in the same clock tick
// could go unseen.
func (m *Memo) Fingerprint(paths []Path, extra []string) (sum uint64, settled bool) {
	return m.fingerprint(paths, extra, true)
}

// FingerprintUnlisted is Fingerprint without the group listings (the same
// sum): for a caller that asks about a few paths once, where listing a
// group (the store root holds an ari-<md>.json per MD) costs more than
// asking.
func (m *Memo) FingerprintUnlisted(paths []Path) (sum uint64, settled bool) {
	return m.fingerprint(paths, nil, false)
}

// fingerprint is Fingerprint; listed says whether a path of a listed
// group may be found absent from the group's listing instead of asked
// for (the same sum either way).
func (m *Memo) fingerprint(paths []Path, extra []string, listed bool) (sum uint64, settled bool) {
	h := uint64(fnvOffset)
	settled = true
	limit := time.Now().Add(-Margin).UnixNano()
	add := func(st *unix.Stat_t, err error) {
		if err != nil {
			h = fnvUint(h, uint64(errno(err)))
			return
		}
		mt := st.Mtim.Nano()
		for _, v := range []uint64{st.Dev, st.Ino, uint64(st.Mode), uint64(st.Size), uint64(mt), uint64(st.Ctim.Nano())} {
			h = fnvUint(h, v)
		}
		if mt > limit {
			settled = false
		}
	}
	for _, p := range paths {
		var st unix.Stat_t
		var err error = unix.EBADF
		switch {
		case m.fds == nil:
		case listed && m.fds.absent(p):
			err = unix.ENOENT // as fstatat would say, without asking
		default:
			err = m.fds.lstat(p, &st)
		}
		h = fnvString(h, p.Group)
		h = fnvString(h, p.Name)
		add(&st, err)
	}
	for _, p := range extra {
		var st unix.Stat_t
		h = fnvString(h, p)
		if m.fds != nil {
			add(&st, m.fds.lstatAbs(p, &st))
		} else {
			add(&st, unix.Lstat(p, &st))
		}
	}
	return h, settled
}

func errno(err error) unix.Errno {
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvUint(h, v uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime
}

// validName keeps a name read from a memo file from naming anything but
// one directory entry.
func validName[T ~string | ~[]byte](n T) bool {
	if len(n) == 0 || string(n) == "." || string(n) == ".." {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] == '/' || n[i] == 0 {
			return false
		}
	}
	return true
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)
