package apacheconf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// refLogicalLines is logicalLines as it was before the lines became
// substrings of the file's text (ec00188): a copy of every line through a
// builder, trimmed by TrimFunc. FuzzLogicalLines holds the two equal.
type refLogicalLines struct {
	r      *reader
	file   string
	data   []byte
	lineNo int
	start  int
	cont   strings.Builder
}

func (s *refLogicalLines) next() (text string, line int, ok bool) {
	for len(s.data) > 0 {
		var phys []byte
		if i := bytes.IndexByte(s.data, '\n'); i >= 0 {
			phys, s.data = s.data[:i], s.data[i+1:]
		} else {
			phys, s.data = s.data, nil
		}
		s.lineNo++
		phys = bytes.TrimRight(phys, "\r")
		if s.cont.Len()+len(phys) > MaxLineLength {
			s.r.errorf(s.file, s.lineNo, "line too long (more than %d bytes)", MaxLineLength)
			s.cont.Reset()
			continue
		}
		if s.cont.Len() == 0 {
			s.start = s.lineNo
		}
		if len(phys) > 0 && phys[len(phys)-1] == '\\' {
			s.cont.Write(phys[:len(phys)-1])
			continue
		}
		s.cont.Write(phys)
		text := strings.TrimFunc(s.cont.String(), func(c rune) bool { return c < 0x80 && isSpace(byte(c)) })
		s.cont.Reset()
		if text == "" || text[0] == '#' {
			continue
		}
		return text, s.start, true
	}
	return "", 0, false
}

// linesOf runs next until the end: the lines as "line:text", then the
// errors and the length of an unfinished continuation.
func linesOf(next func() (string, int, bool), r *reader, cont *strings.Builder) []string {
	var out []string
	for {
		text, line, ok := next()
		if !ok {
			break
		}
		out = append(out, fmt.Sprintf("%d:%q", line, text))
	}
	for _, e := range r.errs {
		out = append(out, "error "+e.Error())
	}
	return append(out, fmt.Sprintf("continuation left: %d", cont.Len()))
}

// sameLines fails t unless both implementations cut data alike.
func sameLines(t *testing.T, data []byte) {
	ra, rb := newReader(Options{}, "x.conf"), newReader(Options{}, "x.conf")
	ref := &refLogicalLines{r: ra, file: "x.conf", data: bytes.Clone(data)}
	got := &logicalLines{r: rb, file: "x.conf", data: string(data)}
	want, have := linesOf(ref.next, ra, &ref.cont), linesOf(got.next, rb, &got.cont)
	if strings.Join(want, "\n") != strings.Join(have, "\n") {
		t.Fatalf("lines differ:\nbefore: %.300q\nnow:    %.300q", want, have)
	}
}

// TestLongLinesAsBefore: lines at and over MaxLineLength, alone and
// joined by continuations (too long for the fuzzer to find).
func TestLongLinesAsBefore(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("y", MaxLineLength) + "\nafter\n",
		strings.Repeat("y", MaxLineLength+1) + "\nafter\n",
		strings.Repeat("y", MaxLineLength-2) + " \\\r\n" + "zz\nok\n",
		strings.Repeat("y", MaxLineLength/2) + "\\\n" + strings.Repeat("z", MaxLineLength/2) + "\\\nend\n",
	} {
		sameLines(t, []byte(s))
	}
}

func FuzzLogicalLines(f *testing.F) {
	for _, s := range []string{
		"MDomain a.org\n",
		"\t MDomain a.org \t\r\n\vMDomain\tb.org\v\f\n  MDomain c.org \\\r\n\t www.c.org\r\n",
		"# comment\n\n   # indented\nA b\\\n\\\n c\n",
		"x\\", "a\r\r\n\xc2\xa0b\xc2\xa0\n", "\\\n\\\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(sameLines)
}

// TestLogicalLinesRandom: 20,000 texts drawn from the bytes that matter
// to the cutting (blanks, CR, LF, backslash, '#', a non-ASCII blank),
// cut alike by both implementations. Seeded: the same texts every run.
func TestLogicalLinesRandom(t *testing.T) {
	alphabet := []byte(" \t\r\n\v\f\\#a<>\xc2\xa0")
	rng := rand.New(rand.NewPCG(17, 9))
	for range 20000 {
		b := make([]byte, rng.IntN(120))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		sameLines(t, b)
	}
}
