package md

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// decodePlain is the fast path of decodeObject for the common case: b is
// one JSON object whose top-level keys are all fields of dst's type,
// spelled exactly and each once, with no unknown field at any level
// (encoding/json's DisallowUnknownFields). It decodes b into dst, which
// must point to a zero value, in one pass and reports whether it did; on
// false dst is zero again and the caller takes decodeObject, which keeps
// unknown fields and names the bad field in errors. Both give the same
// value for every input decodePlain accepts (TestPlainDecodeSameAsSlow):
// a null field leaves the zero value in both.
func decodePlain[T any](b []byte, dst *T) bool {
	t := bytes.TrimSpace(b)
	if slowOnly || len(t) == 0 || t[0] != '{' || !exactTopKeys(t, fieldTable(reflect.TypeFor[T]())) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	if dec.Decode(dst) == nil && dec.InputOffset() == int64(len(t)) {
		return true
	}
	var zero T
	*dst = zero
	return false
}

// DecodeRecord decodes one record line: json.Unmarshal into a Record,
// with the same result and the same errors, but a common line (only known
// fields) is decoded in one pass instead of three.
func DecodeRecord(b []byte) (*Record, error) {
	var f recordFields
	if decodePlain(b, &f) {
		r := f.record(nil)
		return &r, nil
	}
	r := &Record{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// slowOnly turns the fast path off (the tests compare both paths).
var slowOnly bool

// exactTopKeys reports whether every key of the object b is in table,
// spelled exactly as there (encoding/json also matches other letter cases,
// which decodeObject keeps as unknown fields), without escapes, and none
// twice. b that is not valid JSON may give either answer: the decoder
// rejects it then.
func exactTopKeys(b []byte, table map[string][]int) bool {
	var seen []string
	depth, wantKey := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			j, esc := i+1, false
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					esc = true
					j++
				}
			}
			if depth == 1 && wantKey {
				if esc || j >= len(b) {
					return false
				}
				k := b[i+1 : j]
				if _, ok := table[string(k)]; !ok {
					return false
				}
				for _, s := range seen {
					if s == string(k) {
						return false
					}
				}
				seen = append(seen, string(k))
				wantKey = false
			}
			i = j
		case '{', '[':
			depth++
			wantKey = c == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			wantKey = depth == 1
		}
	}
	return true
}
