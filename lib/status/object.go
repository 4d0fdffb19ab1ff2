package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/mdtools/mdtools/lib/md"
)

// Object is a JSON object that keeps its keys in insertion order, as
// mod_md's jansson objects do. Set on an existing key replaces the value
// in place; Del removes it. Values are anything encoding/json encodes
// (strings, bools, ints, *Object, []any, json.RawMessage, ...).
type Object struct {
	base []byte // a compact JSON object whose members come first (see ObjectFrom)
	keys []string
	vals []any          // the value of keys[i]
	idx  map[string]int // the index of each key, once there are many
}

// indexFrom is the number of keys from which an object indexes them: the
// views' objects are small, and a slice is quicker to fill and search
// than a map, but a file with thousands of keys must not take quadratic
// time.
const indexFrom = 32

// ObjectFrom starts an object with the members of a compact JSON object,
// kept as they are; Set must only add keys that raw does not have.
func ObjectFrom(raw []byte) *Object { return &Object{base: raw} }

// NewObject returns an empty object.
func NewObject() *Object { return &Object{} }

// find is the index of key, -1 if absent.
func (o *Object) find(key string) int {
	if o.idx != nil {
		if i, ok := o.idx[key]; ok {
			return i
		}
		return -1
	}
	for i, k := range o.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// Set adds key at the end, or replaces its value in place.
func (o *Object) Set(key string, v any) *Object {
	if i := o.find(key); i >= 0 {
		o.vals[i] = v
		return o
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	switch {
	case o.idx != nil:
		o.idx[key] = len(o.keys) - 1
	case len(o.keys) >= indexFrom:
		o.reindex()
	}
	return o
}

func (o *Object) reindex() {
	o.idx = make(map[string]int, len(o.keys))
	for i, k := range o.keys {
		o.idx[k] = i
	}
}

// Get returns a key's value.
func (o *Object) Get(key string) (any, bool) {
	if i := o.find(key); i >= 0 {
		return o.vals[i], true
	}
	return nil, false
}

// Has reports whether key is present.
func (o *Object) Has(key string) bool { return o.find(key) >= 0 }

// Del removes key.
func (o *Object) Del(key string) {
	i := o.find(key)
	if i < 0 {
		return
	}
	o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
	o.vals = append(o.vals[:i:i], o.vals[i+1:]...)
	if o.idx != nil {
		o.reindex()
	}
}

// Keys returns the keys in order.
func (o *Object) Keys() []string { return o.keys }

// Len is the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// MarshalJSON writes the object compactly, keys in order, without HTML
// escaping (as jansson).
func (o *Object) MarshalJSON() ([]byte, error) {
	return o.appendTo(make([]byte, 0, 1024))
}

func (o *Object) appendTo(buf []byte) ([]byte, error) {
	n := 0
	if len(o.base) >= 2 {
		buf = append(buf, o.base[:len(o.base)-1]...) // without its '}'
		if len(bytes.TrimSpace(o.base[1:len(o.base)-1])) > 0 {
			n++
		}
	} else {
		buf = append(buf, '{')
	}
	for i, k := range o.keys {
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = appendString(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = appendValue(buf, o.vals[i]); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
	}
	return append(buf, '}'), nil
}

// appendValue writes the value types status documents use directly, and
// anything else through encoding/json.
func appendValue(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case *Object:
		return x.appendTo(buf)
	case json.RawMessage:
		return append(buf, x...), nil // from a file that passed json.Valid
	case string:
		return appendString(buf, x), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	b, err := md.MarshalNoEscape(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// appendString writes a JSON string as encoding/json does without HTML
// escaping.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := md.MarshalNoEscape(s) // rare: escapes or non-ASCII (U+2028...)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// ParseObject reads a JSON object keeping its top-level key order; nested
// values stay raw (their own order is kept byte for byte).
func ParseObject(data []byte) (*Object, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for its error message
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	// data is valid JSON: a small scanner finds the top-level members.
	p := skipSpace(data, 0)
	if p >= len(data) || data[p] != '{' {
		return nil, errors.New("want a JSON object")
	}
	o := NewObject()
	p = skipSpace(data, p+1)
	for p < len(data) && data[p] != '}' {
		kEnd := skipValue(data, p)
		var key string
		if err := json.Unmarshal(data[p:kEnd], &key); err != nil {
			return nil, err
		}
		p = skipSpace(data, kEnd)
		p = skipSpace(data, p+1) // ':'
		vEnd := skipValue(data, p)
		o.Set(key, json.RawMessage(data[p:vEnd]))
		p = skipSpace(data, vEnd)
		if p < len(data) && data[p] == ',' {
			p = skipSpace(data, p+1)
		}
	}
	return o, nil
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// skipValue returns the end of the (valid) JSON value starting at p.
func skipValue(b []byte, p int) int {
	depth := 0
	for p < len(b) {
		switch c := b[p]; c {
		case '"':
			p++
			for p < len(b) && b[p] != '"' {
				if b[p] == '\\' {
					p++
				}
				p++
			}
			p++
		case '{', '[':
			depth++
			p++
		case '}', ']':
			if depth == 0 {
				return p // end of the enclosing object after a scalar
			}
			depth--
			p++
		default:
			if depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				return p
			}
			p++
		}
		if depth == 0 && (p >= len(b) || b[p-1] == '"' || b[p-1] == '}' || b[p-1] == ']') {
			return p
		}
	}
	return p
}

// Indent encodes v as mod_md's handlers do (jansson JSON_INDENT(2)): two
// spaces, "key": value, no final newline.
func Indent(v any) ([]byte, error) {
	b, err := appendValue(nil, v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
