package status

import (
	"bufio"
	"context"
	"io"
	"runtime"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
)

// Each loads the named MDs in parallel and calls fn with each report in
// the order of names; reports are not kept, so memory stays flat however
// large the store. A name that vanished meanwhile is skipped.
func (r *Reader) Each(ctx context.Context, names []string, fn func(*Report) error) error {
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	const window = 64 // reports loaded but not yet handed to fn, at most
	if len(names) > 1 {
		r = r.withPresence(ctx)
	}
	reps := make([]*Report, len(names))
	return pool.Ordered(len(names), workers, window, func(i int) {
		if rep, err := r.Load(ctx, names[i]); err == nil {
			reps[i] = rep
		}
	}, func(i int) error {
		rep := reps[i]
		reps[i] = nil // emitted: let it go
		if rep == nil {
			return nil
		}
		return fn(rep)
	})
}

// WriteList streams mod_md's md-status list document for names to w,
// indented exactly as Indent(ListJSON(...)) would be, one MD at a time.
// It returns how many MDs had unreadable files. With a memo (MemoDir),
// names must be all the MDs of the store: the others are forgotten.
func (r *Reader) WriteList(ctx context.Context, w io.Writer, names []string) (bad int, err error) {
	vm := r.openViewMemo(ViewJSON)
	defer vm.close(r.MemoReport, names)
	return r.writeList(ctx, w, names, vm)
}

func (r *Reader) writeList(ctx context.Context, out io.Writer, names []string, vm *viewMemo) (bad int, err error) {
	w := bufio.NewWriterSize(out, 256<<10) // not a write per MD
	defer func() {
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
	}()
	head, _ := md.MarshalNoEscape("mdtools/" + Version)
	if _, err := io.WriteString(w, "{\n  \"version\": "+string(head)+",\n  \"managed-domains\": ["); err != nil {
		return 0, err
	}
	n := 0
	err = r.eachPart(ctx, names, vm, jsonPart, nil, func(p part) error {
		if p.bad {
			bad++
		}
		sep := ",\n    "
		if n == 0 {
			sep = sep[1:]
		}
		n++
		w.WriteString(sep)
		_, err := w.Write(p.data)
		return err
	})
	if err != nil {
		return bad, err
	}
	tail := "]\n}\n"
	if n > 0 {
		tail = "\n  ]\n}\n"
	}
	_, err = io.WriteString(w, tail)
	return bad, err
}

// jsonPart is an MD's entry in the list, indented as it appears there.
func jsonPart(rep *Report) (part, error) {
	b, err := rep.JSON(false).MarshalJSON()
	if err != nil {
		return part{}, err
	}
	data, err := indentJSON(make([]byte, 0, len(b)*2), b, "    ", "  ")
	if err != nil {
		return part{}, err
	}
	return part{data: data, until: renewalUntil(rep)}, nil
}
