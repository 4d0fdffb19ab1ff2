package status

import (
	"bytes"
	"encoding/json"
)

// indentJSON appends src indented as json.Indent(dst, src, prefix,
// indent) does, for the valid JSON the views build (their parts, made by
// Object.MarshalJSON from values that encoding/json wrote or that were
// checked when read); without json.Indent's scanner it takes a fraction
// of the time. Input whose brackets or strings do not close goes to
// json.Indent, for its error (FuzzIndentJSON).
func indentJSON(dst, src []byte, prefix, indent string) ([]byte, error) {
	orig := len(dst)
	depth := 0
	needIndent := false
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			newline()
		}
		switch c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return slowIndent(dst[:orig], src, prefix, indent)
			}
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			needIndent = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				if depth < 0 {
					return slowIndent(dst[:orig], src, prefix, indent)
				}
				newline()
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	if depth != 0 || needIndent {
		return slowIndent(dst[:orig], src, prefix, indent)
	}
	return dst, nil
}

func slowIndent(dst, src []byte, prefix, indent string) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	err := json.Indent(b, src, prefix, indent)
	return b.Bytes(), err
}
