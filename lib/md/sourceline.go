package md

import (
	"bytes"
	"strconv"
)

// SourceLine is a record's encoded line with its "source" members cut out
// (CutSources), so that one remembered line serves the record wherever
// its definition moves in the config: a [[domain]] inserted near the top
// of an md.toml, or a vhost near the top of an Apache file, moves every
// definition below it, and nothing else of those records changes.
type SourceLine struct {
	Line []byte // the line without its source members
	// Cuts are the offsets in Line where the members were, in order;
	// none: Line is the whole line.
	Cuts []int
}

// Sources are the record's sources that MarshalJSON encodes, in the order
// it encodes them: the record's own, then each vhost's.
func (r *Record) Sources() []*Source {
	var out []*Source
	if r.Source != nil {
		out = append(out, r.Source)
	}
	for i := range r.Vhosts {
		if s := r.Vhosts[i].Source; s != nil {
			out = append(out, s)
		}
	}
	return out
}

// sourceKey starts every source member (quotes cannot occur unescaped in
// a JSON string, so this is always a member name).
var sourceKey = []byte(`"source":{`)

// CutSources cuts srcs, r.Sources() of the record r.MarshalJSON encoded
// as line, out of line (into a new slice); ok is false as SourceSpans'.
func CutSources(line []byte, srcs []*Source) (SourceLine, bool) {
	spans, ok := SourceSpans(line, srcs)
	if !ok {
		return SourceLine{}, false
	}
	out := SourceLine{Line: make([]byte, 0, len(line)), Cuts: make([]int, 0, len(spans))}
	prev := 0
	for _, sp := range spans {
		out.Line = append(out.Line, line[prev:sp[0]]...)
		out.Cuts = append(out.Cuts, len(out.Line))
		prev = sp[1]
	}
	out.Line = append(out.Line, line[prev:]...)
	return out, true
}

// SourceSpans finds the members of srcs, r.Sources() of the record
// r.MarshalJSON encoded as line: their [start, end) in line, in order.
// ok is false when there are none, or when line does not hold exactly
// their members in that order and no other "source" object (an unknown
// field may hold one): then the line is not cut.
func SourceSpans(line []byte, srcs []*Source) (spans [][2]int, ok bool) {
	if len(srcs) == 0 || bytes.Count(line, sourceKey) != len(srcs) {
		return nil, false
	}
	spans = make([][2]int, 0, len(srcs))
	var member [128]byte
	at := 0
	for _, src := range srcs {
		m := AppendSource(member[:0], src)
		i := bytes.Index(line[at:], m)
		if i < 0 {
			return nil, false
		}
		spans = append(spans, [2]int{at + i, at + i + len(m)})
		at += i + len(m)
	}
	return spans, true
}

// Append appends the line of a record whose Sources() are srcs: the
// line with srcs' members put back where the cut ones were. An uncut
// line is appended as it is; srcs must have one source per cut.
func (l SourceLine) Append(b []byte, srcs []*Source) []byte {
	prev := 0
	for i, at := range l.Cuts {
		b = append(b, l.Line[prev:at]...)
		if i < len(srcs) {
			b = AppendSource(b, srcs[i])
		}
		prev = at
	}
	return append(b, l.Line[prev:]...)
}

// AppendSource appends the "source" member of an object in which it is
// not the first member, as MarshalJSON encodes it: `,"source":{...}`.
func AppendSource(b []byte, src *Source) []byte {
	b = append(b, `,"source":{"file":`...)
	b = appendJSONString(b, src.File)
	if src.Line != 0 { // omitempty
		b = append(b, `,"line":`...)
		b = strconv.AppendInt(b, int64(src.Line), 10)
	}
	return append(b, '}')
}

// appendJSONString appends s as MarshalNoEscape encodes a string: plain
// ASCII directly, anything else through the encoder (escapes, invalid
// UTF-8, U+2028).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			enc, err := MarshalNoEscape(s)
			if err != nil { // a string always encodes
				panic(err)
			}
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
