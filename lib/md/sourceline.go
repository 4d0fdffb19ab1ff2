package md

import (
	"bytes"
	"strconv"
)

// SourceLine is a record's encoded line with its "source" member cut out
// (CutSource), so that one remembered line serves the record wherever
// its definition moves in the config: a [[domain]] inserted near the top
// of an md.toml moves every definition below it, and nothing else of
// those records changes. Tail nil: Head is the whole line, unsplit.
type SourceLine struct{ Head, Tail []byte }

// CutSource splits line, r.MarshalJSON's encoding of a record whose
// Source is src, around its "source" member; ok is false when src is nil
// or the member is not found exactly once (then the line is not split).
func CutSource(line []byte, src *Source) (SourceLine, bool) {
	if src == nil {
		return SourceLine{}, false
	}
	member := AppendSource(nil, src)
	i := bytes.Index(line, member)
	if i < 0 || bytes.Contains(line[i+len(member):], member) {
		return SourceLine{}, false
	}
	return SourceLine{Head: line[:i:i], Tail: line[i+len(member):]}, true
}

// Append appends the line of a record whose Source is src: Head, src's
// member, Tail (src nil: no member); an unsplit line is appended as it is.
func (l SourceLine) Append(b []byte, src *Source) []byte {
	b = append(b, l.Head...)
	if l.Tail == nil {
		return b
	}
	if src != nil {
		b = AppendSource(b, src)
	}
	return append(b, l.Tail...)
}

// AppendSource appends the "source" member of a record that is not the
// first member, as Record.MarshalJSON encodes it: `,"source":{...}`.
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
