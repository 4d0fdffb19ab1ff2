package status

import (
	"bytes"
	"encoding/json"
	"io"
	"runtime"
	"sync"
)

// Each loads the named MDs in parallel and calls fn with each report in
// the order of names; reports are not kept, so memory stays flat however
// large the store. A name that vanished meanwhile is skipped.
func (r *Reader) Each(names []string, fn func(*Report) error) error {
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	const chunk = 64
	if len(names) > 1 {
		r = r.withPresence()
	}
	for start := 0; start < len(names); start += chunk {
		end := min(start+chunk, len(names))
		reps := make([]*Report, end-start)
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					rep, err := r.Load(names[start+i])
					if err == nil {
						reps[i] = rep
					}
				}
			}()
		}
		for i := range reps {
			next <- i
		}
		close(next)
		wg.Wait()
		for _, rep := range reps {
			if rep == nil {
				continue
			}
			if err := fn(rep); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteList streams mod_md's md-status list document for names to w,
// indented exactly as Indent(ListJSON(...)) would be, one MD at a time.
// It returns how many MDs had unreadable files.
func (r *Reader) WriteList(w io.Writer, names []string) (bad int, err error) {
	head, _ := marshal("mdtools/" + Version)
	if _, err := io.WriteString(w, "{\n  \"version\": "+string(head)+",\n  \"managed-domains\": ["); err != nil {
		return 0, err
	}
	n := 0
	var buf bytes.Buffer
	err = r.Each(names, func(rep *Report) error {
		if len(rep.Problems) > 0 {
			bad++
		}
		b, err := rep.JSON(false).MarshalJSON()
		if err != nil {
			return err
		}
		buf.Reset()
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n    ")
		if err := json.Indent(&buf, b, "    ", "  "); err != nil {
			return err
		}
		n++
		_, err = w.Write(buf.Bytes())
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
