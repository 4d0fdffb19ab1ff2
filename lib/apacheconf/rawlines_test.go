package apacheconf

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// refLines is an independent statement of how a file's bytes become
// logical lines, written for clarity, not speed: split at LF, drop CRs
// at the end, join lines ending in a backslash (a joined line longer
// than MaxLineLength is reported and dropped), trim the ASCII blanks,
// skip blank lines and comments. It gives "line:text" per logical line,
// then "error line:msg" per problem, then the length of a continuation
// left unfinished, as linesOf does for logicalLines.
func refLines(data []byte) []string {
	phys := strings.Split(string(data), "\n")
	if phys[len(phys)-1] == "" {
		phys = phys[:len(phys)-1] // a final LF ends the last line; it starts none
	}
	var out, errs []string
	cont, start := "", 0
	for k, p := range phys {
		p = strings.TrimRight(p, "\r")
		if len(cont)+len(p) > MaxLineLength {
			errs = append(errs, fmt.Sprintf("error %d:line too long (more than %d bytes)", k+1, MaxLineLength))
			cont = ""
			continue
		}
		if cont == "" {
			start = k + 1
		}
		if strings.HasSuffix(p, "\\") {
			cont += strings.TrimSuffix(p, "\\")
			continue
		}
		text := strings.Trim(cont+p, " \t\n\r\v\f")
		cont = ""
		if text != "" && text[0] != '#' {
			out = append(out, fmt.Sprintf("%d:%q", start, text))
		}
	}
	out = append(out, errs...)
	return append(out, fmt.Sprintf("continuation left: %d", len(cont)))
}

// linesOf runs logicalLines over data, in refLines' terms.
func linesOf(data []byte) []string {
	r := newReader(Options{}, "x.conf")
	s := &logicalLines{r: r, file: "x.conf", data: string(data)}
	var out []string
	for {
		text, line, ok := s.next()
		if !ok {
			break
		}
		out = append(out, fmt.Sprintf("%d:%q", line, text))
	}
	for _, e := range r.errs {
		out = append(out, fmt.Sprintf("error %d:%s", e.Line, e.Msg))
	}
	return append(out, fmt.Sprintf("continuation left: %d", s.cont.Len()))
}

// sameLines fails t unless logicalLines cuts data as refLines says.
func sameLines(t *testing.T, data []byte) {
	want, have := refLines(data), linesOf(data)
	if strings.Join(want, "\n") != strings.Join(have, "\n") {
		t.Fatalf("lines differ for %.200q:\nwant: %.300q\nhave: %.300q", data, want, have)
	}
}

// TestLongLines: lines at and over MaxLineLength, alone and
// joined by continuations (too long for the fuzzer to find).
func TestLongLines(t *testing.T) {
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
