package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// streamTool is a streaming stage (a MemoSpec, its memo off) that notes
// the records it worked on.
func streamTool(worked *sync.Map, batch bool) Tool {
	mode := "each"
	if batch {
		mode = "batch"
	}
	return streamToolMode(worked, mode, nil)
}

// streamToolMode is streamTool with Each (mode "each"), Batch ("batch"),
// or Batch with a Quick that answers the MDs named q* ("quick"). Each
// record worked on says by what in its install reason; batched gets the
// names Batch was given, in order.
func streamToolMode(worked *sync.Map, mode string, batched *[]string) Tool {
	return testTool(func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
		s := &Stage{Memo: &MemoSpec{Stage: "test", Paths: func(string) []memo.Path { return nil }, Off: true},
			Start: func(_ context.Context, st *store.Store, _ []*md.Record) (*Work, error) {
				mark := func(r *md.Record, by string) {
					worked.Store(r.Name, true)
					r.Install = &md.InstallResult{Action: "none", Reason: by}
				}
				each := func(_ context.Context, r *md.Record) error {
					mark(r, "each")
					return nil
				}
				w := &Work{Batch: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
					for _, r := range recs {
						mark(r, "batch")
						if batched != nil {
							*batched = append(*batched, r.Name)
						}
					}
					return recs, nil
				}}
				switch mode {
				case "each":
					return &Work{Jobs: 4, Each: each}, nil
				case "quick":
					w.Quick = func(_ context.Context, r *md.Record) bool {
						if !strings.HasPrefix(r.Name, "q") {
							return false
						}
						mark(r, "quick")
						return true
					}
				}
				return w, nil
			}}
		return s.Run(ctx, c, env, log)
	})
}

// With Work.Quick, the records it answers come out as they come, the
// others after Batch, all in input order; a name that came before is for
// Batch, and so is every record Quick leaves. Over many records, so that
// several chunks are worked on at once.
func TestStreamQuickKeepsOrder(t *testing.T) {
	var names []string
	want := map[string]string{}
	for i := range 700 {
		n := fmt.Sprintf("s%03d.test", i)
		by := "batch"
		if i%3 != 0 {
			n, by = fmt.Sprintf("q%03d.test", i), "quick"
		}
		names = append(names, n)
		want[n] = by
	}
	// a name again: Batch's, also after Quick answered it
	names = append(names, "q001.test", "s000.test")
	var worked sync.Map
	var batched []string
	code, out, errOut := run(t, streamToolMode(&worked, "quick", &batched), recordLines(names...), "--store", t.TempDir())
	got, err := ReadRecords(strings.NewReader(out), "stdout", false)
	if code != ExitOK || err != nil || len(got) != len(names) {
		t.Fatalf("exit %d, %d records (%v); want 0, %d\n%s", code, len(got), err, len(names), errOut)
	}
	var wantBatched []string
	for i, r := range got {
		by := want[r.Name]
		if i >= 700 {
			by = "batch"
		}
		if r.Name != names[i] || r.Install == nil || r.Install.Reason != by {
			t.Fatalf("record %d: %s by %+v; want %s by %s", i, r.Name, r.Install, names[i], by)
		}
		if by == "batch" {
			wantBatched = append(wantBatched, r.Name)
		}
	}
	if strings.Join(batched, " ") != strings.Join(wantBatched, " ") {
		t.Errorf("Batch was given %d records %v...; want %d", len(batched), batched[:min(5, len(batched))], len(wantBatched))
	}
}

// TestStreamBadInput: a bad line ends the input there: the records before
// it are worked on and written, none after it, and the run exits 2 naming
// the line. The same for a record naming another store.
func TestStreamBadInput(t *testing.T) {
	dir := t.TempDir()
	other := fmt.Sprintf(`{"name":"o.test","domains":["o.test"],"store":%q}`+"\n", t.TempDir())
	for _, mode := range []string{"each", "batch", "quick"} {
		for _, tc := range []struct {
			name, bad, want string
		}{
			{"bad JSON", "{nope\n", "stdin: line 3"},
			{"invalid record", `{"name":"x.test","domains":"x.test"}` + "\n", "stdin: line 3"},
			{"another store", other, "the records name two stores"},
			{"relative store", `{"name":"r.test","domains":["r.test"],"store":"rel/dir"}` + "\n", "must be an absolute directory"},
		} {
			t.Run(fmt.Sprintf("%s %s", tc.name, mode), func(t *testing.T) {
				var worked sync.Map
				in := recordLines("a.test", "q.test") + tc.bad + recordLines("c.test")
				code, out, errOut := run(t, streamToolMode(&worked, mode, nil), in, "--store", dir)
				got, err := ReadRecords(strings.NewReader(out), "stdout", false)
				if code != ExitUsage || err != nil || len(got) != 2 || got[0].Name != "a.test" || got[1].Name != "q.test" || !strings.Contains(errOut, tc.want) {
					t.Fatalf("exit %d, %d records %v, stderr %q; want 2, a.test and q.test, %q", code, len(got), err, errOut, tc.want)
				}
				for name, want := range map[string]bool{"a.test": true, "q.test": true, "c.test": false} {
					if _, ok := worked.Load(name); ok != want {
						t.Errorf("%s worked on: %v, want %v", name, ok, want)
					}
				}
			})
		}
	}
}

// TestStreamWritesBeforeInputEnds: a record comes out while the input is
// still open, so the stages of a pipeline overlap.
func TestStreamWritesBeforeInputEnds(t *testing.T) {
	var worked sync.Map
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), streamTool(&worked, false), []string{"md-test", "--store", t.TempDir()},
			Env{Stdin: inR, Stdout: outW, Stderr: io.Discard})
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	for _, name := range []string{"a.test", "b.test"} {
		if _, err := io.WriteString(inW, recordLines(name)); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			lines.Scan()
			got <- lines.Text()
		}()
		select {
		case l := <-got:
			if !strings.Contains(l, name) {
				t.Fatalf("got %q, want the record of %s", l, name)
			}
		case <-time.After(time.Minute):
			t.Fatalf("no output for %s while the input stays open", name)
		}
	}
	inW.Close()
	if code := <-done; code != ExitOK {
		t.Errorf("exit %d", code)
	}
}
