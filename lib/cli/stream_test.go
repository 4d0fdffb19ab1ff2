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
	return testTool(func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
		s := &Stage{Memo: &MemoSpec{Stage: "test", Paths: func(string) []memo.Path { return nil }, Off: true},
			Start: func(_ context.Context, st *store.Store, _ []*md.Record) (*Work, error) {
				each := func(_ context.Context, r *md.Record) error {
					worked.Store(r.Name, true)
					return nil
				}
				if batch {
					return &Work{Batch: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
						for _, r := range recs {
							each(ctx, r)
						}
						return recs, nil
					}}, nil
				}
				return &Work{Jobs: 4, Each: each}, nil
			}}
		return s.Run(ctx, c, env, log)
	})
}

// TestStreamBadInput: a bad line ends the input there: the records before
// it are worked on and written, none after it, and the run exits 2 naming
// the line. The same for a record naming another store.
func TestStreamBadInput(t *testing.T) {
	dir := t.TempDir()
	other := fmt.Sprintf(`{"name":"o.test","domains":["o.test"],"store":%q}`+"\n", t.TempDir())
	for _, batch := range []bool{false, true} {
		for _, tc := range []struct {
			name, bad, want string
		}{
			{"bad JSON", "{nope\n", "stdin: line 3"},
			{"invalid record", `{"name":"x.test","domains":"x.test"}` + "\n", "stdin: line 3"},
			{"another store", other, "the records name two stores"},
			{"relative store", `{"name":"r.test","domains":["r.test"],"store":"rel/dir"}` + "\n", "must be an absolute directory"},
		} {
			t.Run(fmt.Sprintf("%s batch=%v", tc.name, batch), func(t *testing.T) {
				var worked sync.Map
				in := recordLines("a.test", "b.test") + tc.bad + recordLines("c.test")
				code, out, errOut := run(t, streamTool(&worked, batch), in, "--store", dir)
				got, err := ReadRecords(strings.NewReader(out), "stdout", false)
				if code != ExitUsage || err != nil || len(got) != 2 || got[0].Name != "a.test" || got[1].Name != "b.test" || !strings.Contains(errOut, tc.want) {
					t.Fatalf("exit %d, %d records %v, stderr %q; want 2, a.test and b.test, %q", code, len(got), err, errOut, tc.want)
				}
				for name, want := range map[string]bool{"a.test": true, "b.test": true, "c.test": false} {
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
