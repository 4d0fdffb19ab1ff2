package status

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The table and the metrics are made of one part per MD (see memo.go):
// what the row is made from (rowpart.go), the MD's series by family. A
// part is encoded as the memo keeps it, and the view is written from the
// decoded parts whether they were remembered or made in this run, so that
// both give the same bytes.

var errBadPart = errors.New("status: malformed view part")

// renderParts writes the table or the metrics of names.
func (r *Reader) renderParts(ctx context.Context, w io.Writer, view View, names []string, opt Options) (bad int, err error) {
	vm := r.openViewMemo(view)
	defer vm.close(r.MemoReport, names)
	return r.renderPartsWith(ctx, w, view, names, opt, vm)
}

func (r *Reader) renderPartsWith(ctx context.Context, w io.Writer, view View, names []string, opt Options, vm *viewMemo) (bad int, err error) {
	var rows []TableRow
	fams := make([]chunks, len(metricHelp))
	render := metricsPart
	prep := func(p *part) (err error) { p.lines, err = metricLines(p.data); return err }
	add := func(p part) error {
		for _, l := range p.lines {
			fams[l.fam].add(l.line)
		}
		return nil
	}
	if view == ViewTable {
		now := r.now()
		render = tablePart
		prep = func(p *part) (err error) { p.row, err = rowAt(p.data, now); return err }
		add = func(p part) error { rows = append(rows, p.row); return nil }
	}
	err = r.eachPart(ctx, names, vm, render, prep, func(p part) error {
		if p.bad {
			bad++
		}
		return add(p)
	})
	if err != nil {
		return bad, err
	}
	if view == ViewTable {
		return bad, WriteTable(w, rows, opt.Color)
	}
	return bad, writeFamilies(w, fams)
}

// chunks are the lines of one metric family, each followed by a newline,
// in blocks of at most chunkSize bytes: 100,000 MDs' series are about
// 100 MB, which grow without being copied and without a slice per line.
type chunks [][]byte

const chunkSize = 1 << 20

func (c *chunks) add(line []byte) {
	n := len(*c)
	if n == 0 || len((*c)[n-1])+len(line)+1 > cap((*c)[n-1]) {
		*c = append(*c, make([]byte, 0, max(chunkSize, len(line)+1)))
		n++
	}
	last := &(*c)[n-1]
	*last = append(append(*last, line...), '\n')
}

// writeFamilies writes the exposition as MetricsWriter.WriteTo does.
func writeFamilies(w io.Writer, fams []chunks) error {
	b := bufio.NewWriterSize(w, 64<<10)
	for i, m := range metricHelp {
		if len(fams[i]) == 0 {
			continue
		}
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, c := range fams[i] {
			b.Write(c)
		}
		fams[i] = nil // written: let it go
	}
	return b.Flush()
}

// metricsPart is an MD's series: per family (by index in metricHelp),
// the number of lines and the lines.
func metricsPart(rep *Report) (part, error) {
	one := NewMetricsWriter()
	one.Add(rep)
	var b []byte
	for i, lines := range one.series {
		if len(lines) == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = binary.AppendUvarint(b, uint64(len(lines)))
		for _, l := range lines {
			b = binary.AppendUvarint(b, uint64(len(l)))
			b = append(b, l...)
		}
	}
	return part{data: b, until: renewalUntil(rep)}, nil
}

// metricLine is one series line of a part and its family's index.
type metricLine struct {
	fam  int
	line []byte
}

// metricLines decodes a part's series (the lines stay slices of b).
func metricLines(b []byte) ([]metricLine, error) {
	var out []metricLine
	d := partReader{b: b}
	for len(d.b) > 0 && d.err == nil {
		i := d.uvarint()
		n := d.uvarint()
		if i >= uint64(len(metricHelp)) || n > uint64(len(d.b)) {
			return nil, errBadPart
		}
		for ; n > 0 && d.err == nil; n-- {
			out = append(out, metricLine{int(i), d.bytes()})
		}
	}
	return out, d.done()
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// partReader decodes a part; the first error sticks.
type partReader struct {
	b   []byte
	err error
}

func (d *partReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadPart
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *partReader) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadPart
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *partReader) done() error {
	if d.err == nil && len(d.b) > 0 {
		return errBadPart
	}
	return d.err
}
