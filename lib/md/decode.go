package md

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
)

// FieldError names the field of a record that is wrong.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// fieldTable maps JSON names to field index paths of a struct type,
// flattening embedded structs as encoding/json does.
var fieldTables sync.Map // reflect.Type -> map[string][]int

func fieldTable(t reflect.Type) map[string][]int {
	if v, ok := fieldTables.Load(t); ok {
		return v.(map[string][]int)
	}
	table := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := cutComma(tag)
		if name == "-" || name == "" {
			continue
		}
		table[name] = f.Index
	}
	fieldTables.Store(t, table)
	return table
}

func cutComma(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// decodeObject decodes the JSON object b into the struct dst points to, one
// known key at a time so that an error names its field, and returns the
// unknown keys.
func decodeObject(b []byte, dst any) (map[string]json.RawMessage, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, describeSyntax(err)
	}
	if raw == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	v := reflect.ValueOf(dst).Elem()
	table := fieldTable(v.Type())
	var extra map[string]json.RawMessage
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first bad field by name
	for _, k := range keys {
		idx, ok := table[k]
		if !ok {
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[k] = raw[k]
			continue
		}
		if bytes.Equal(bytes.TrimSpace(raw[k]), []byte("null")) {
			continue
		}
		fv := v.FieldByIndex(idx)
		if err := json.Unmarshal(raw[k], fv.Addr().Interface()); err != nil {
			return nil, fieldErr(k, err)
		}
	}
	return extra, nil
}

func fieldErr(key string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := key
		if te.Field != "" {
			field = key + "." + te.Field
		}
		return &FieldError{Field: field, Err: fmt.Errorf("cannot use JSON %s here (want %s)", te.Value, jsonKind(te.Type))}
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: key + "." + fe.Field, Err: fe.Err}
	}
	return &FieldError{Field: key, Err: err}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

func describeSyntax(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("want a JSON object, got %s", te.Value)
	}
	return err
}

// MarshalNoEscape encodes like json.Marshal but keeps <, > and & literal,
// as mod_md's jansson does. Every mdtools JSON output goes through it.
func MarshalNoEscape(v any) ([]byte, error) {
	var out []byte
	// one allocation of the result's size, not a buffer grown by doubling
	// (100,000 records through md-parse allocated 33 MB that way)
	err := withMarshaled(v, func(b []byte) { out = bytes.Clone(b) })
	return out, err
}

// withMarshaled hands fn v encoded as MarshalNoEscape returns it, valid
// only during the call (the pooled encoder's buffer, not a copy).
func withMarshaled(v any, fn func([]byte)) error {
	e := encoders.Get().(*encoder)
	if err := e.enc.Encode(v); err != nil {
		return err // e is dropped: nothing of a failed encoding is reused
	}
	fn(bytes.TrimRight(e.buf.Bytes(), "\n"))
	e.put()
	return nil
}

// encoder is a JSON encoder into its own buffer, reused through encoders.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// put returns e to the pool, unless one large value grew its buffer: a
// pool should not keep megabytes alive for the small records.
func (e *encoder) put() {
	if e.buf.Cap() > 64<<10 {
		return
	}
	e.buf.Reset()
	encoders.Put(e)
}

// appendExtra adds unknown fields, sorted by key, to an encoded object.
func appendExtra(obj []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(extra) == 0 {
		return obj, nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := append([]byte(nil), obj[:len(obj)-1]...) // drop the closing brace
	for i, k := range keys {
		if i > 0 || len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := MarshalNoEscape(k)
		out = append(out, kb...)
		out = append(out, ':')
		var c bytes.Buffer
		if err := json.Compact(&c, extra[k]); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		out = append(out, c.Bytes()...)
	}
	return append(out, '}'), nil
}

// StoreJSON encodes v as mod_md writes its store files: 2-space indentation,
// no HTML escaping, a final newline.
func StoreJSON(v any) ([]byte, error) {
	b, err := MarshalNoEscape(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
