package apacheconf

import (
	"bytes"
	"strings"
	"unsafe"
)

// parseRaw splits a file into logical lines (continuations joined,
// comments and blank lines dropped) and nests sections.
func (r *reader) parseRaw(file string, data []byte) []*rawLine {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		r.errorf(file, line, "binary data (NUL byte) in configuration file")
		return nil
	}
	// The lines are substrings of the file's text, not copies: data is
	// this read's own buffer (fsread.ReadFile) and nothing writes to it.
	src := &logicalLines{r: r, file: file, data: unsafe.String(unsafe.SliceData(data), len(data))}
	var n nesting
	// the lines are allocated together, not one by one (a config of
	// 100,000 vhosts has 600,000 of them); a line may end up in the
	// next slab when the count was short (comments, continuations)
	var slab []rawLine
	for {
		text, line, ok := src.next()
		if !ok {
			break
		}
		r.lines++
		if r.lines > MaxLines {
			r.errorf(file, line, "more than %d configuration lines, giving up", MaxLines)
			r.aborted = true
			return n.top
		}
		if len(slab) == cap(slab) {
			slab = make([]rawLine, 0, slabSize(len(src.data)))
		}
		slab = append(slab, rawLine{text: text, line: line})
		if !n.take(r, file, &slab[len(slab)-1]) {
			return n.top
		}
	}
	if src.cont.Len() > 0 {
		r.errorf(file, src.start, "continuation line at end of file")
	}
	for i := len(n.stack) - 1; i >= 0; i-- {
		r.errorf(file, n.stack[i].l.line, "<%s> was not closed.", n.stack[i].name)
	}
	return n.top
}

// slabSize is how many lines to allocate at once when rest bytes of a
// file are left: about one per 30 bytes, bounded both ways.
func slabSize(rest int) int {
	return min(max(rest/30, 16), 4096)
}

// logicalLines cuts a file's bytes into Apache's logical lines: a
// trailing backslash joins the next physical line, blank lines and
// comments are skipped, and an over-long line is reported and dropped
// so that one bad line does not hide the errors after it.
type logicalLines struct {
	r      *reader
	file   string
	data   string          // what is left to read
	lineNo int             // the physical line last read
	start  int             // the physical line the current logical line starts on
	cont   strings.Builder // the logical line read so far
}

// next returns the next logical line, trimmed, and the physical line it
// starts on; ok is false at the end of the data (cont then holds an
// unfinished continuation, if any).
func (s *logicalLines) next() (text string, line int, ok bool) {
	for len(s.data) > 0 {
		var phys string
		if i := strings.IndexByte(s.data, '\n'); i >= 0 {
			phys, s.data = s.data[:i], s.data[i+1:]
		} else {
			phys, s.data = s.data, ""
		}
		s.lineNo++
		phys = strings.TrimRight(phys, "\r")
		if s.cont.Len()+len(phys) > MaxLineLength {
			s.r.errorf(s.file, s.lineNo, "line too long (more than %d bytes)", MaxLineLength)
			s.cont.Reset()
			continue
		}
		if s.cont.Len() == 0 {
			s.start = s.lineNo
		}
		if len(phys) > 0 && phys[len(phys)-1] == '\\' {
			s.cont.WriteString(phys[:len(phys)-1])
			continue
		}
		text := phys // the common case: no continuation, no copy
		if s.cont.Len() > 0 {
			s.cont.WriteString(phys)
			text = s.cont.String()
			s.cont.Reset()
		}
		text = trimConfSpace(text)
		if text == "" || text[0] == '#' {
			continue
		}
		return text, s.start, true
	}
	return "", 0, false
}

// trimConfSpace trims the ASCII blanks isSpace knows from both ends.
func trimConfSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// maxSectionDepth bounds how deep <Section>s nest.
const maxSectionDepth = 64

// nesting builds the tree of lines: a <Section> line holds the lines up
// to its </Section> as children.
type nesting struct {
	top   []*rawLine
	stack []openSection
}

// openSection is a <Section> whose end has not been seen; name is as
// written, for messages.
type openSection struct {
	l    *rawLine
	name string
}

// add appends l to the innermost open section, else to the top level.
func (n *nesting) add(l *rawLine) {
	if len(n.stack) > 0 {
		p := n.stack[len(n.stack)-1].l
		p.children = append(p.children, l)
	} else {
		n.top = append(n.top, l)
	}
}

// take places one logical line: a section end closes the innermost
// section (a mismatched name is reported, but closes it anyway, as
// Apache does), a section start opens one, anything else is added. It
// is false when sections nest too deeply to go on.
func (n *nesting) take(r *reader, file string, l *rawLine) bool {
	text := l.text
	if strings.HasPrefix(text, "</") {
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text[2:]), ">"))
		if len(n.stack) == 0 {
			r.errorf(file, l.line, "</%s> without matching <%s> section", name, name)
			return true
		}
		o := n.stack[len(n.stack)-1]
		if !strings.EqualFold(name, o.name) {
			r.errorf(file, l.line, "Expected </%s> but saw </%s>", o.name, name)
		}
		n.stack = n.stack[:len(n.stack)-1]
		return true
	}
	if text[0] == '<' {
		w, _ := getWordConf(text)
		name := strings.TrimSuffix(w[1:], ">")
		l.section = r.lowerName(name)
		n.add(l)
		n.stack = append(n.stack, openSection{l, name})
		if len(n.stack) > maxSectionDepth {
			r.errorf(file, l.line, "sections nested too deeply")
			return false
		}
		return true
	}
	n.add(l)
	return true
}
