package status

import "bytes"

// jscan reads JSON strictly, for the hot paths of the cold run: it accepts
// only what encoding/json accepts, and gives up (fail) on whatever its
// caller does not handle itself (escapes or non-ASCII in a string the
// caller looks at, deep nesting), so that the caller can take the
// reference path (encoding/json) instead. Its callers are proven against
// that path by fuzzing (FuzzJobNodes).
type jscan struct {
	b     []byte
	p     int
	depth int
	fail  bool // invalid, or not for the fast path
}

// maxScanDepth bounds the nesting the scanner follows (encoding/json
// allows 10000; deeper documents go to the reference path).
const maxScanDepth = 64

func (s *jscan) ws() {
	for s.p < len(s.b) {
		switch s.b[s.p] {
		case ' ', '\t', '\n', '\r':
			s.p++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (s *jscan) peek() byte {
	s.ws()
	if s.p < len(s.b) {
		return s.b[s.p]
	}
	return 0
}

// eat consumes c after white space.
func (s *jscan) eat(c byte) bool {
	if s.fail || s.peek() != c {
		s.fail = true
		return false
	}
	s.p++
	return true
}

// str reads a string; plain is false when it has escapes or bytes beyond
// ASCII (then v is its raw text between the quotes).
func (s *jscan) str() (v []byte, plain bool) {
	if !s.eat('"') {
		return nil, false
	}
	start, plain := s.p, true
	for s.p < len(s.b) {
		c := s.b[s.p]
		switch {
		case c == '"':
			v = s.b[start:s.p]
			s.p++
			return v, plain
		case c < 0x20:
			s.fail = true
			return nil, false
		case c == '\\':
			plain = false
			if !s.escape() {
				return nil, false
			}
		case c >= 0x80:
			plain = false // encoding/json takes any bytes (bad UTF-8 too)
			s.p++
		default:
			s.p++
		}
	}
	s.fail = true
	return nil, false
}

// escape checks the escape at s.p.
func (s *jscan) escape() bool {
	if s.p+1 >= len(s.b) {
		s.fail = true
		return false
	}
	switch s.b[s.p+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.p += 2
		return true
	case 'u':
		if s.p+6 > len(s.b) {
			s.fail = true
			return false
		}
		for _, h := range s.b[s.p+2 : s.p+6] {
			if !isHex(h) {
				s.fail = true
				return false
			}
		}
		s.p += 6
		return true
	}
	s.fail = true
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skip checks and passes over one value.
func (s *jscan) skip() {
	switch s.peek() {
	case '"':
		s.str()
	case '{':
		s.object(func(key []byte, plain bool) { s.skip() })
	case '[':
		s.array(s.skip)
	case 't':
		s.word("true")
	case 'f':
		s.word("false")
	case 'n':
		s.word("null")
	default:
		s.number()
	}
}

func (s *jscan) word(w string) {
	if !bytes.HasPrefix(s.b[s.p:], []byte(w)) {
		s.fail = true
		return
	}
	s.p += len(w)
}

// number checks -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jscan) number() {
	b, p := s.b, s.p
	digits := func() bool {
		q := p
		for p < len(b) && '0' <= b[p] && b[p] <= '9' {
			p++
		}
		return p > q
	}
	if p < len(b) && b[p] == '-' {
		p++
	}
	switch {
	case p < len(b) && b[p] == '0':
		p++
	case !digits():
		s.fail = true
		return
	}
	if p < len(b) && b[p] == '.' {
		p++
		if !digits() {
			s.fail = true
			return
		}
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		if !digits() {
			s.fail = true
			return
		}
	}
	s.p = p
}

// object reads an object, calling member with each key, positioned at its
// value, which member must read (or skip).
func (s *jscan) object(member func(key []byte, plain bool)) {
	if !s.eat('{') || !s.enter() {
		return
	}
	defer s.leave()
	if s.peek() == '}' {
		s.p++
		return
	}
	for !s.fail {
		key, plain := s.str()
		if !s.eat(':') {
			return
		}
		member(key, plain)
		if s.fail {
			return
		}
		switch s.peek() {
		case ',':
			s.p++
		case '}':
			s.p++
			return
		default:
			s.fail = true
		}
	}
}

// array reads an array, calling elem positioned at each element.
// objects scans an array whose elements must all be objects, calling elem
// at the start of each; anything else fails the scan.
func (s *jscan) objects(elem func()) {
	s.array(func() {
		if s.peek() != '{' {
			s.fail = true
			return
		}
		elem()
	})
}

func (s *jscan) array(elem func()) {
	if !s.eat('[') || !s.enter() {
		return
	}
	defer s.leave()
	if s.peek() == ']' {
		s.p++
		return
	}
	for !s.fail {
		elem()
		if s.fail {
			return
		}
		switch s.peek() {
		case ',':
			s.p++
		case ']':
			s.p++
			return
		default:
			s.fail = true
		}
	}
}

func (s *jscan) enter() bool {
	s.depth++
	if s.depth > maxScanDepth {
		s.fail = true
	}
	return !s.fail
}

func (s *jscan) leave() { s.depth-- }

// end checks that nothing but white space follows.
func (s *jscan) end() {
	if s.peek() != 0 || s.p != len(s.b) {
		s.fail = true
	}
}

// fieldKey tells how encoding/json would match key against a struct
// field named name: exact (true, true), not at all (false, true), or in
// another case or through an escape, which the fast path leaves to
// encoding/json (ok false).
// member is the index of the name among names that key is, -1 when it is
// none of them. A key that differs from one of them only in case, or is
// not plain, fails the scan: encoding/json may take it for that member.
func (s *jscan) member(key []byte, plain bool, names ...string) int {
	for i, name := range names {
		match, ok := fieldKey(key, plain, name)
		if !ok {
			s.fail = true
			return -1
		}
		if match {
			return i
		}
	}
	return -1
}

func fieldKey(key []byte, plain bool, name string) (match, ok bool) {
	if !plain {
		return false, false
	}
	if string(key) == name {
		return true, true
	}
	return false, !bytes.EqualFold(key, []byte(name))
}
