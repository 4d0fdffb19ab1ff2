package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// stageTool is a record stage over a real store whose work is told by the
// record's name: "fail*" fails, "locked*" is held by another run, "slow*"
// takes a while (so records finish out of order).
func stageTool(batch func(context.Context, []*md.Record) ([]*md.Record, error)) Tool {
	return testTool(func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
		s := &Stage{LockedHint: "another run has it",
			Start: func(_ context.Context, st *store.Store, _ []*md.Record) (*Work, error) {
				return &Work{Jobs: 4, Batch: batch, Each: func(_ context.Context, r *md.Record) error {
					switch {
					case strings.HasPrefix(r.Name, "fail"):
						r.Error = &md.StageError{Stage: "test", Detail: "it broke"}
					case strings.HasPrefix(r.Name, "locked"):
						return fmt.Errorf("%s: %w", r.Name, store.ErrLocked)
					case strings.HasPrefix(r.Name, "slow"):
						time.Sleep(20 * time.Millisecond)
					}
					return nil
				}}, nil
			}}
		return s.Run(ctx, c, env, log)
	})
}

func recordLines(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "{\"name\":%q,\"domains\":[%q]}\n", n, n)
	}
	return b.String()
}

// TestStage: every record is written once, in input order (failed ones
// too: they are passed on), and the exit code says the worst: a batch
// error, else a failed record (1), else a locked MD (3), else 0.
func TestStage(t *testing.T) {
	boom := errors.New("reload failed")
	tests := []struct {
		name     string
		recs     []string
		batch    func(context.Context, []*md.Record) ([]*md.Record, error)
		want     int
		wantErr  string
		wantRecs int
	}{
		{"all fine", []string{"slow1.test", "a.test", "b.test", "slow2.test", "c.test"}, nil, ExitOK, "", 5},
		{"one failed", []string{"slow1.test", "fail1.test", "c.test"}, nil, ExitFailed, "fail1.test: ", 3},
		{"one locked", []string{"a.test", "locked1.test", "b.test"}, nil, ExitLocked, "another run has it", 3},
		{"failed beats locked", []string{"locked1.test", "fail1.test"}, nil, ExitFailed, "fail1.test: ", 2},
		{"batch after each", []string{"slow1.test", "a.test"}, func(_ context.Context, r []*md.Record) ([]*md.Record, error) { return r, nil }, ExitOK, "", 2},
		{"batch error wins, records still written", []string{"fail1.test", "a.test"},
			func(_ context.Context, r []*md.Record) ([]*md.Record, error) { return r, boom }, ExitFailed, "reload failed", 2},
		{"batch locked", []string{"a.test"},
			func(_ context.Context, r []*md.Record) ([]*md.Record, error) { return r, store.ErrLocked }, ExitLocked, "another run has it", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, stageTool(tc.batch), recordLines(tc.recs...), "--store", t.TempDir())
			if code != tc.want || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.want, tc.wantErr)
			}
			got, err := ReadRecords(strings.NewReader(out), "stdout", false)
			if err != nil || len(got) != tc.wantRecs {
				t.Fatalf("%d records (%v) on stdout:\n%s", len(got), err, out)
			}
			for i, r := range got {
				if r.Name != tc.recs[i] {
					t.Errorf("record %d is %s; want %s (input order)", i, r.Name, tc.recs[i])
				}
			}
		})
	}
}

// TestStageBadInput: a bad record stops the run before the store is
// opened or any record is worked on (exit 2, nothing on stdout).
func TestStageBadInput(t *testing.T) {
	var started atomic.Bool
	tool := testTool(func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
		return (&Stage{Start: func(context.Context, *store.Store, []*md.Record) (*Work, error) {
			started.Store(true)
			return &Work{}, nil
		}}).Run(ctx, c, env, log)
	})
	dir := t.TempDir() + "/store"
	code, out, _ := run(t, tool, recordLines("a.test")+"{nope\n", "--store", dir)
	if code != ExitUsage || out != "" || started.Load() {
		t.Errorf("exit %d, stdout %q, started %v; want 2, nothing, not started", code, out, started.Load())
	}
}

// TestVerbs: a tool with verbs dispatches to them and explains a missing,
// misplaced or misspelt verb (exit 2).
func TestVerbs(t *testing.T) {
	verb := func(name string) Tool {
		return Tool{Name: name, Usage: name + " things", Action: func(_ context.Context, _ *ucli.Context, env Env, _ *Logger) error {
			fmt.Fprintln(env.Stdout, "ran "+name)
			return nil
		}}
	}
	tool := Tool{Name: "md-test", Usage: "verbs", Verbs: []Tool{verb("setup"), verb("serve")}}
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"serve"}, ExitOK, "ran serve", ""},
		{nil, ExitUsage, "", "missing command: setup or serve (see md-test --help)"},
		{[]string{"-v", "setup"}, ExitUsage, "", "put the command first: md-test setup"},
		{[]string{"sevre"}, ExitUsage, "", "did you mean md-test serve?"},
		{[]string{"setup", "--nope"}, ExitUsage, "", "md-test setup: error:"},
	} {
		code, out, errOut := run(t, tool, "", tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.out, tc.err)
		}
	}
}
