package tomlconf

import (
	"strconv"
	"strings"
)

// lineIndex maps keys of an md.toml to the lines they are defined on.
// BurntSushi/toml keeps key positions by dotted path only, so the keys of
// the second [[domain]] table overwrite those of the first; this index
// tells the tables of an array apart ("domain.0.renew-window").
//
// It is built by a small scanner that runs only on input the TOML parser
// has already accepted, so it needs to know just enough TOML to find table
// headers and the keys at the start of lines: strings (basic, literal and
// their multi-line forms), comments, and brackets of arrays and inline
// tables. A key it cannot place falls back to its table's header line.
type lineIndex map[string]int

// line returns the line of key in table ctx ("global", "domain.3"), else
// the line of the table header, else 0.
func (ix lineIndex) line(ctx, key string) int {
	if key != "" {
		k := key
		if ctx != "" {
			k = ctx + "." + key
		}
		if n, ok := ix[k]; ok {
			return n
		}
	}
	for c := ctx; c != ""; {
		if n, ok := ix[c]; ok {
			return n
		}
		i := strings.LastIndexByte(c, '.')
		if i < 0 {
			break
		}
		c = c[:i]
	}
	return 0
}

func indexLines(src string) lineIndex {
	ix := lineIndex{}
	s := &scanner{src: strings.TrimPrefix(src, "\ufeff"), line: 1}
	ctx := ""
	domains := -1
	s.walk(func(_ int, array bool, path []string) bool {
		if array && len(path) == 1 && path[0] == "domain" {
			domains++
		}
		ctx = contextOf(path, domains)
		if _, ok := ix[ctx]; !ok || array {
			ix[ctx] = s.line
		}
		return true
	}, func(path []string) {
		if len(path) > 0 {
			k := path[0]
			if ctx != "" {
				k = ctx + "." + k
			}
			if _, ok := ix[k]; !ok {
				ix[k] = s.line
			}
		}
	})
	return ix
}

// walk scans the statements of the source: header is called for each
// table header (the offset of its line's start, [[ ]] or [ ], its path)
// with s.line its line, and stops the walk when it says false; key for
// each key at the start of a line, before its value is skipped.
func (s *scanner) walk(header func(lineStart int, array bool, path []string) bool, key func(path []string)) {
	for s.i < len(s.src) {
		s.skipSpace()
		if s.i >= len(s.src) {
			break
		}
		switch c := s.src[s.i]; c {
		case '\n':
			s.line++
			s.i++
		case '\r':
			s.i++
		case '#':
			s.skipComment()
		case '[':
			lineStart := strings.LastIndexByte(s.src[:s.i], '\n') + 1
			array := strings.HasPrefix(s.src[s.i:], "[[")
			if array {
				s.i += 2
			} else {
				s.i++
			}
			if !header(lineStart, array, s.keyPath()) {
				return
			}
			s.skipLine()
		default:
			key(s.keyPath())
			if s.i < len(s.src) && s.src[s.i] == '=' {
				s.i++
				s.value()
			} else {
				s.skipLine()
			}
		}
	}
}

// contextOf names a table: "global", "domain.<n>" for the n-th [[domain]],
// "domain.<n>.sub" for its subtables, the dotted path otherwise.
func contextOf(path []string, domains int) string {
	if len(path) > 0 && path[0] == "domain" && domains >= 0 {
		return strings.Join(append([]string{"domain", strconv.Itoa(domains)}, path[1:]...), ".")
	}
	return strings.Join(path, ".")
}

type scanner struct {
	src  string
	i    int
	line int
	path []string // keyPath's
}

func (s *scanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

func (s *scanner) skipComment() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// skipLine moves to the end of the line, honouring strings and comments.
func (s *scanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		switch s.src[s.i] {
		case '"', '\'':
			s.str()
		case '#':
			s.skipComment()
		default:
			s.i++
		}
	}
}

// keyPath reads a dotted key (or a header's name) and stops after it.
// The slice is the scanner's, good until the next call (100,000 tables
// made 300,000 of them).
func (s *scanner) keyPath() []string {
	path := s.path[:0]
	defer func() { s.path = path[:0] }()
	for s.i < len(s.src) {
		s.skipSpace()
		if s.i >= len(s.src) {
			break
		}
		c := s.src[s.i]
		var seg string
		switch {
		case c == '"' || c == '\'':
			start := s.i
			s.str()
			raw := s.src[start:s.i]
			if c == '"' {
				if u, err := strconv.Unquote(raw); err == nil {
					seg = u
				} else {
					seg = strings.Trim(raw, `"`)
				}
			} else {
				seg = strings.Trim(raw, `'`)
			}
		case isBare(c):
			start := s.i
			for s.i < len(s.src) && isBare(s.src[s.i]) {
				s.i++
			}
			seg = s.src[start:s.i]
		default:
			return path
		}
		path = append(path, seg)
		s.skipSpace()
		if s.i < len(s.src) && s.src[s.i] == '.' {
			s.i++
			continue
		}
		break
	}
	s.skipSpace()
	return path
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// value reads a value to the end of its (possibly multi-line) extent.
func (s *scanner) value() {
	depth := 0
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case '"', '\'':
			s.str()
			continue
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case '#':
			s.skipComment()
			continue
		case '\n':
			if depth <= 0 {
				return
			}
			s.line++
		}
		s.i++
	}
}

// str reads one string of any of TOML's four kinds, counting newlines.
func (s *scanner) str() {
	q := s.src[s.i]
	multi := strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3))
	if multi {
		s.i += 3
	} else {
		s.i++
	}
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i++
			if s.i < len(s.src) && s.src[s.i] == '\n' {
				s.line++
			}
		case c == '\n':
			if !multi {
				return // unterminated: cannot happen on accepted input
			}
			s.line++
		case c == q && !multi:
			s.i++
			return
		case c == q && strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)):
			s.i += 3
			// up to two more quotes belong to the content
			for n := 0; n < 2 && s.i < len(s.src) && s.src[s.i] == q; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
}
