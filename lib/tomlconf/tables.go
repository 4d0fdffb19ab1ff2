package tomlconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
)

// Tables is an md.toml cut into its [[domain]] tables and the rest (what
// precedes the first table header, and [global]), for md-parse's run
// memo. A table makes its record from its own text, the rest and the
// file's directory alone; what crosses tables (overlapping names, the
// reachability every record carries) is checked by ParseWithout from
// what each table contributes. So a table whose Sum an earlier run saw
// makes the record it made then, and after an edit to one table of
// 100,000 only that one needs reading.
type Tables struct {
	file  string
	dir   string
	data  []byte
	spans [][2]int // byte ranges of List's tables, header line first
	List  []Table  // the [[domain]] tables, in file order
}

// Table is one [[domain]] table of Tables.
type Table struct {
	Sum   TableSum // its text, the rest of the file and the file's directory
	Line  int      // its header's line
	Lines int      // the lines it spans, up to the next header (the last: to the end)
}

// TableSum identifies a table's text in its file (see Tables).
type TableSum [16]byte

// Split cuts md.toml's content as Load would read it from path. ok is
// false for a file the cut does not cover, which must be read whole:
// table headers other than [global] and [[domain]] (a subtable belongs to
// the table before it), a byte order mark, or more tables than Load
// accepts. The cut needs no valid TOML: it finds headers as indexLines
// does, and a table that was valid before is the same text from a line
// start in the same scanner state, so it is cut the same way.
func Split(path string, data []byte) (t *Tables, ok bool) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil || bytes.HasPrefix(data, []byte("\ufeff")) {
		return nil, false
	}
	t = &Tables{file: path, dir: dir, data: data}
	// about the number of tables (100,000: growing the lists was a third
	// of the time), within what Load accepts
	n := min(bytes.Count(data, []byte("[[domain]]")), MaxDomains+1)
	t.List, t.spans = make([]Table, 0, n), make([][2]int, 0, n)
	var rest [][2]int // the preamble and [global] tables
	s := &scanner{src: string(data), line: 1}
	start, inDomain := 0, false
	cut := func(end int) {
		if inDomain {
			t.spans = append(t.spans, [2]int{start, end})
		} else if end > start {
			rest = append(rest, [2]int{start, end})
		}
	}
	refused := false
	s.walk(func(lineStart int, array bool, path []string) bool {
		switch {
		case array && len(path) == 1 && path[0] == "domain":
			cut(lineStart)
			start, inDomain = lineStart, true
			t.List = append(t.List, Table{Line: s.line})
		case !array && len(path) == 1 && path[0] == "global":
			cut(lineStart)
			start, inDomain = lineStart, false
		default:
			refused = true
		}
		return !refused
	}, func([]string) {})
	if refused {
		return nil, false
	}
	cut(len(data))
	if len(t.List) > MaxDomains {
		return nil, false
	}
	t.sum(rest)
	return t, true
}

// File is the file's name as given to Split.
func (t *Tables) File() string { return t.file }

// sum fills each table's Sum and Lines.
func (t *Tables) sum(rest [][2]int) {
	h := sha256.New()
	var n [8]byte
	frame := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	frame([]byte(t.dir))
	for _, r := range rest {
		frame(t.data[r[0]:r[1]])
	}
	var common, sum [sha256.Size]byte
	h.Sum(common[:0])
	for i, sp := range t.spans {
		text := t.data[sp[0]:sp[1]]
		h.Reset()
		frame(common[:])
		frame(text)
		copy(t.List[i].Sum[:], h.Sum(sum[:0]))
		t.List[i].Lines = bytes.Count(text, []byte{'\n'})
		if sp[1] == len(t.data) {
			t.List[i].Lines++ // a table at the end runs to it, newline or not
		}
	}
}

// Known is a table of Tables that the caller answers for itself (from an
// earlier run): the names of its MD and its share of the reachability
// (Reach of its record).
type Known struct {
	Names []string
	Reach md.Reachable
}

// ParseWithout reads the file as Load does, but for the tables known
// names (by index into List), which it reads as blank lines: records come
// for the other tables only, with the lines Load gives them, and the
// known tables' names and reachability count where tables meet
// (overlapping names; the reachability in every record's settings, also
// returned). Errors and warnings are those of what was read, the known
// tables' overlaps included. The files it reads go into inputs (nil: not
// recorded).
func (t *Tables) ParseWithout(known map[int]Known, inputs *memo.Inputs) (*md.ParsedConfig, md.Reachable, error) {
	var b []byte
	var at []knownAt
	prev := 0
	for i, sp := range t.spans {
		k, ok := known[i]
		if !ok {
			continue
		}
		b = append(b, t.data[prev:sp[0]]...)
		b = append(b, bytes.Repeat([]byte{'\n'}, bytes.Count(t.data[sp[0]:sp[1]], []byte{'\n'}))...)
		prev = sp[1]
		at = append(at, knownAt{line: t.List[i].Line, Known: k})
	}
	b = append(b, t.data[prev:]...)
	p := &parser{file: t.file, dir: t.dir, known: at, in: inputs}
	pc, err := p.parse(b)
	return pc, p.reach, err
}

// knownAt is a Known table at its header's line.
type knownAt struct {
	line int
	Known
}

// Reach is a record's share of the reachability of ports 80 and 443 (its
// webroot and listeners, see reachability), as every md.toml record's
// settings carry the share of all.
func Reach(r *md.Record) md.Reachable {
	pm := md.DefaultPortMap
	if r.Settings != nil && r.Settings.PortMap != nil {
		pm = *r.Settings.PortMap
	}
	return hostReach(r.Host, &pm)
}
