package memo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A Run is md-parse's memo of a whole run: what the configuration read
// depended on (Inputs), what it said (warnings, the store it names) and,
// for every MD, the key of its answer in the store's memo-parse.bin.
// When nothing in Inputs changed, md-parse writes the remembered lines
// without reading the configuration at all.
//
// It lives outside the store, in the cache directory (CacheDir): the
// store is named by the configuration, so it is not known before the
// configuration is read. It holds no line of output, only names, paths
// and hashes; every answer still comes from the store's memo, checked
// against the store's files as always.
type Run struct {
	Key             RunKey    // what the run was asked (RunKeyOf)
	Inputs          []Input   // what reading the configuration depended on
	StoreDir        string    // MDStoreDir / store-dir ("" if none)
	DefaultStoreDir string    // the config's server's default store ("" if none)
	Store           string    // the store the run chose
	Warnings        []Warning // to save; a loaded Run has them in AllWarnings
	Names           []string  // the MDs, in output order
	Keys            []Key     // each MD's key in memo-parse.bin
	// Sources are where each MD was defined (its record's sources, see
	// md.Record.Sources): the remembered lines leave them out.
	Sources [][]Source
	Root    uint64 // Fingerprint of the store root files the sync read
	// Tables are, for an md.toml, each MD's [[domain]] table as the run
	// read it (tomlconf.Tables), so that the tables an edit left alone
	// are answered without reading them again; none for an Apache config.
	Tables []RunTable

	warnings []byte // as encoded (appendWarnings), decoded one at a time
}

// Warning is a configuration warning, repeated as it was.
type Warning struct {
	File string
	Line int
	Msg  string
}

// RunTable is an MD's [[domain]] table in a Run.
type RunTable struct {
	Sum   [16]byte // tomlconf.TableSum
	Lines int      // the lines it spanned
	Reach uint8    // its share of the reachability: 1 port 80, 2 port 443
	Names []string // the MD's names after its first (its name)
}

// Source is one of a record's sources in a Run.
type Source struct {
	File string
	Line int
}

// RunKey identifies a run by what it was asked.
type RunKey [32]byte

// runMagic starts a run file: the name, then the format's version.
const (
	runMagicName = "mdtools-run-memo "
	runMagic     = runMagicName + "3\n"
)

// maxRunFile bounds a run file (about 70 bytes per MD).
const maxRunFile = 64 << 20

// runLife is how long an unused run file stays in the cache directory.
const runLife = 30 * 24 * time.Hour

// CacheEnv names the cache directory, overriding the default (CacheDir).
const CacheEnv = "MDTOOLS_CACHE_DIR"

// CacheDir is where run memos are kept: $MDTOOLS_CACHE_DIR, else
// /var/cache/mdtools for root, else $XDG_CACHE_HOME/mdtools or
// ~/.cache/mdtools; "" when none can be named.
func CacheDir(getenv func(string) string, euid int) string {
	switch {
	case getenv(CacheEnv) != "":
		return getenv(CacheEnv)
	case euid == 0:
		return "/var/cache/mdtools"
	case filepath.IsAbs(getenv("XDG_CACHE_HOME")):
		return filepath.Join(getenv("XDG_CACHE_HOME"), "mdtools")
	case filepath.IsAbs(getenv("HOME")):
		return filepath.Join(getenv("HOME"), ".cache", "mdtools")
	}
	return ""
}

// RunFileName is the file of a run in the cache directory.
func RunFileName(k RunKey) string { return "md-parse-" + hex.EncodeToString(k[:12]) + ".bin" }

// LoadRun reads the run memo for k in the cache directory dir, written by
// the same build (context). A missing one is (nil, nil); one that is not
// this user's, not a regular file, corrupt or another build's is (nil,
// err) with the reason.
func LoadRun(dir string, k RunKey, context string) (*Run, error) {
	if err := checkCacheDir(dir, false); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	path := filepath.Join(dir, RunFileName(k))
	data, err := readOwned(path, maxRunFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	r, err := decodeRun(data, context)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (ignored)", path, err)
	}
	if r.Key != k {
		return nil, fmt.Errorf("%s: written for another run (ignored)", path)
	}
	keepFresh(path)
	return r, nil
}

// SaveRun writes the run memo (temp file and rename, mode 0600) into the
// cache directory, creating it (0700) if needed, and removes run files
// unused for 30 days.
func SaveRun(dir string, r *Run, context string) error {
	if err := checkCacheDir(dir, true); err != nil {
		return err
	}
	sweepRuns(dir)
	return replaceFile(filepath.Join(dir, RunFileName(r.Key)), encodeRun(r, context))
}

// checkCacheDir refuses a cache directory that another user could have
// written to: a run memo names the store md-parse's output points to.
func checkCacheDir(dir string, create bool) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("cache directory %q: not an absolute path", dir)
	}
	var st unix.Stat_t
	err := unix.Lstat(dir, &st)
	if errors.Is(err, unix.ENOENT) && create {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			err = unix.Lstat(dir, &st)
		}
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		return os.ErrNotExist
	case err != nil:
		return fmt.Errorf("cache directory %s: %w", dir, err)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("cache directory %s: not a directory (a symlink is refused)", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("cache directory %s: owned by uid %d, not by this user", dir, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("cache directory %s: writable by others (mode %o)", dir, st.Mode&0o777)
	}
	return nil
}

// readOwned is readBounded for a file that must belong to this user.
func readOwned(path string, limit int64) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, err
	}
	if int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s: owned by uid %d, not by this user: refused", path, st.Uid)
	}
	data, err := readBounded(path, nil)
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes: refused", path, limit)
	}
	return data, err
}

// keepFresh moves a used run file's mtime forward (once a day), so that
// sweepRuns keeps it.
func keepFresh(path string) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) == nil && time.Since(time.Unix(0, st.Mtim.Nano())) > 24*time.Hour {
		now := unix.NsecToTimespec(time.Now().UnixNano())
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW)
	}
}

// sweepRuns removes run files unused for runLife and temp files of
// crashed runs older than an hour.
func sweepRuns(dir string) {
	olds, _ := filepath.Glob(filepath.Join(dir, "md-parse-*.bin*"))
	for _, p := range olds {
		age := runLife
		if strings.HasSuffix(p, ".tmp") {
			age = time.Hour
		}
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > age {
			os.Remove(p)
		}
	}
}

func encodeRun(r *Run, context string) []byte {
	b := []byte(runMagic)
	b = appendString(b, context)
	b = append(b, r.Key[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Inputs)))
	for _, in := range r.Inputs {
		flag := byte(0)
		if in.Env {
			flag = 1
		}
		b = append(b, flag)
		b = appendString(b, in.Name)
		b = binary.LittleEndian.AppendUint64(b, in.Sum)
	}
	for _, s := range []string{r.StoreDir, r.DefaultStoreDir, r.Store} {
		b = appendString(b, s)
	}
	b = appendWarnings(b, r.Warnings)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Names)))
	for i, n := range r.Names {
		b = appendString(b, n)
		b = append(b, r.Keys[i][:]...)
	}
	b = appendSources(b, r.Sources, len(r.Names))
	b = binary.LittleEndian.AppendUint64(b, r.Root)
	b = appendTables(b, r.Tables)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errOtherBuild = errors.New("written by another mdtools build")

func decodeRun(data []byte, context string) (*Run, error) {
	if len(data) < len(runMagic)+4 || string(data[:len(runMagic)]) != runMagic {
		if bytes.HasPrefix(data, []byte(runMagicName)) {
			return nil, errOtherBuild // an older format: not damage
		}
		return nil, errCorrupt
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, errors.New("checksum mismatch")
	}
	return decodeRunBody(body[len(runMagic):], context)
}

// decodeRunBody decodes what follows the magic, up to the checksum.
func decodeRunBody(body []byte, context string) (*Run, error) {
	rd := &reader{b: body}
	if rd.str() != context {
		return nil, errOtherBuild
	}
	r := &Run{}
	copy(r.Key[:], rd.take(len(r.Key)))
	for n := rd.u32(); n > 0 && rd.err == nil; n-- {
		flag := rd.take(1)
		in := Input{Env: len(flag) == 1 && flag[0] == 1, Name: rd.str(), Sum: rd.u64()}
		r.Inputs = append(r.Inputs, in)
	}
	r.StoreDir, r.DefaultStoreDir, r.Store = rd.str(), rd.str(), rd.str()
	r.warnings = rd.bytes()
	if _, err := r.eachWarning(nil); err != nil {
		return nil, err
	}
	n := rd.u32()
	if rd.err == nil && uint64(n) > uint64(len(rd.b))/uint64(4+len(Key{})) {
		return nil, errCorrupt // more MDs than the file can hold
	}
	r.Names, r.Keys = make([]string, 0, n), make([]Key, 0, n)
	for ; n > 0 && rd.err == nil; n-- {
		name := rd.str()
		var k Key
		copy(k[:], rd.take(len(k)))
		if !validName(name) {
			return nil, errCorrupt
		}
		r.Names, r.Keys = append(r.Names, name), append(r.Keys, k)
	}
	r.Sources = decodeSources(rd, len(r.Names))
	r.Root = rd.u64()
	r.Tables = decodeTables(rd, len(r.Names))
	if rd.err != nil || len(rd.b) != 0 {
		return nil, errCorrupt
	}
	return r, nil
}

// appendSources encodes the sources of n MDs (missing ones: none): the
// files once, then per MD the number of sources and each one's file
// (its number in the list) and line.
func appendSources(b []byte, srcs [][]Source, n int) []byte {
	files := map[string]uint32{}
	var list []string
	for _, ss := range srcs {
		for _, src := range ss {
			if _, ok := files[src.File]; !ok {
				files[src.File] = uint32(len(list))
				list = append(list, src.File)
			}
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(list)))
	for _, f := range list {
		b = appendString(b, f)
	}
	for i := 0; i < n; i++ {
		var ss []Source
		if i < len(srcs) {
			ss = srcs[i]
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ss)))
		for _, src := range ss {
			b = binary.LittleEndian.AppendUint32(b, files[src.File])
			b = binary.LittleEndian.AppendUint64(b, uint64(src.Line))
		}
	}
	return b
}

// decodeSources reads what appendSources wrote for n MDs.
func decodeSources(rd *reader, n int) [][]Source {
	nf := rd.u32()
	if rd.err == nil && uint64(nf) > uint64(len(rd.b))/4 {
		rd.err = errCorrupt
		return nil
	}
	files := make([]string, 0, nf)
	for ; nf > 0 && rd.err == nil; nf-- {
		files = append(files, rd.str())
	}
	if rd.err == nil && uint64(n) > uint64(len(rd.b))/4 {
		rd.err = errCorrupt
		return nil
	}
	srcs := make([][]Source, n)
	for i := range srcs {
		k := rd.u32()
		if rd.err == nil && uint64(k) > uint64(len(rd.b))/12 {
			rd.err = errCorrupt
		}
		if rd.err != nil {
			return nil
		}
		srcs[i] = make([]Source, k)
		for j := range srcs[i] {
			f, line := rd.u32(), int(int64(rd.u64()))
			if rd.err != nil || f >= uint32(len(files)) {
				rd.err = errCorrupt
				return nil
			}
			srcs[i][j] = Source{File: files[f], Line: line}
		}
	}
	return srcs
}

// appendTables encodes a Run's tables: their number (0, or one per MD),
// then each one's sum, lines, reach and names.
func appendTables(b []byte, ts []RunTable) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ts)))
	for _, t := range ts {
		b = append(b, t.Sum[:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Lines))
		b = append(b, t.Reach)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Names)))
		for _, n := range t.Names {
			b = appendString(b, n)
		}
	}
	return b
}

// decodeTables reads what appendTables wrote for a run of n MDs.
func decodeTables(rd *reader, n int) []RunTable {
	k := rd.u32()
	if rd.err != nil || k == 0 {
		return nil
	}
	if int(k) != n || uint64(k) > uint64(len(rd.b))/25 {
		rd.err = errCorrupt
		return nil
	}
	ts := make([]RunTable, k)
	for i := range ts {
		t := &ts[i]
		copy(t.Sum[:], rd.take(len(t.Sum)))
		t.Lines = int(rd.u32())
		if b := rd.take(1); len(b) == 1 {
			t.Reach = b[0]
		}
		names := rd.u32()
		if rd.err == nil && uint64(names) > uint64(len(rd.b))/4 {
			rd.err = errCorrupt
		}
		for ; names > 0 && rd.err == nil; names-- {
			t.Names = append(t.Names, rd.str())
		}
		if rd.err != nil {
			return nil
		}
	}
	return ts
}

// RunKeyOf hashes what a run was asked: its arguments, working directory
// and the environment variables its choices read, each part length-framed.
func RunKeyOf(parts ...string) RunKey {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k RunKey
	copy(k[:], h.Sum(nil))
	return k
}

// AllWarnings yields the warnings of a loaded run one at a time (100,000
// MDs may each have one: as strings they would be tens of MB at once).
func (r *Run) AllWarnings() iter.Seq[Warning] {
	return func(yield func(Warning) bool) {
		if r.warnings == nil {
			for _, w := range r.Warnings {
				if !yield(w) {
					return
				}
			}
			return
		}
		_, _ = r.eachWarning(yield)
	}
}

// appendWarnings encodes warnings compactly: most are one text about
// many MDs ("<name> has no way to answer an ACME challenge..."), so a
// message is its first word and the index of the rest in a table of
// strings, as is the file.
func appendWarnings(b []byte, ws []Warning) []byte {
	index := map[string]uint32{}
	var table []string
	intern := func(s string) uint32 {
		i, ok := index[s]
		if !ok {
			i = uint32(len(table))
			index[s] = i
			table = append(table, s)
		}
		return i
	}
	var body []byte
	for _, w := range ws {
		head, rest, split := strings.Cut(w.Msg, " ")
		restIdx := noRest
		if split {
			restIdx = intern(rest)
		}
		body = binary.LittleEndian.AppendUint32(body, intern(w.File))
		body = binary.LittleEndian.AppendUint64(body, uint64(w.Line))
		body = appendString(body, head)
		body = binary.LittleEndian.AppendUint32(body, restIdx)
	}
	var enc []byte
	enc = binary.LittleEndian.AppendUint32(enc, uint32(len(table)))
	for _, t := range table {
		enc = appendString(enc, t)
	}
	enc = binary.LittleEndian.AppendUint32(enc, uint32(len(ws)))
	enc = append(enc, body...)
	return appendString(b, string(enc))
}

// noRest marks a one-word message.
const noRest = ^uint32(0)

// eachWarning decodes r.warnings, calling yield for each until it says
// stop (a nil yield only checks them); it returns how many it decoded.
func (r *Run) eachWarning(yield func(Warning) bool) (int, error) {
	rd := &reader{b: r.warnings}
	n := rd.u32()
	if rd.err == nil && uint64(n) > uint64(len(rd.b))/4 {
		return 0, errCorrupt
	}
	table := make([]string, 0, n)
	for ; n > 0 && rd.err == nil; n-- {
		table = append(table, rd.str())
	}
	count := int(rd.u32())
	for i := 0; i < count; i++ {
		file, line, head, rest := rd.u32(), rd.u64(), rd.str(), rd.u32()
		if rd.err != nil || int(file) >= len(table) || rest != noRest && int(rest) >= len(table) {
			return i, errCorrupt
		}
		if yield == nil { // only checking
			continue
		}
		w := Warning{File: table[file], Line: int(line), Msg: head}
		if rest != noRest {
			w.Msg = head + " " + table[rest]
		}
		if !yield(w) {
			return i + 1, nil
		}
	}
	if rd.err != nil || len(rd.b) != 0 {
		return count, errCorrupt
	}
	return count, nil
}
