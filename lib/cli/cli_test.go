package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

func testTool(action func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error) Tool {
	return Tool{Name: "md-test", Usage: "test tool", Flags: StoreFlags(), Action: action}
}

func run(t *testing.T, tool Tool, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), tool, append([]string{"md-test"}, args...),
		Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		args []string
		want int
	}{
		{"ok", nil, nil, ExitOK},
		{"failed records", ErrRecordsFailed, nil, ExitFailed},
		{"other error", errors.New("boom"), nil, ExitFailed},
		{"usage", Usagef("bad"), nil, ExitUsage},
		{"unknown flag", nil, []string{"--nope"}, ExitUsage},
		{"bad flag value", nil, []string{"--wait", "soon"}, ExitUsage},
		{"locked", fmt.Errorf("x: %w", store.ErrLocked), nil, ExitLocked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tool := testTool(func(context.Context, *ucli.Context, Env, *Logger) error { return tc.err })
			code, stdout, _ := run(t, tool, "", tc.args...)
			if code != tc.want {
				t.Errorf("exit = %d; want %d", code, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q; want nothing", stdout)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	tool := testTool(func(context.Context, *ucli.Context, Env, *Logger) error { return errors.New("must not run") })
	for _, arg := range []string{"--help", "--version", "-V"} {
		code, stdout, _ := run(t, tool, "", arg)
		if code != 0 || !strings.Contains(stdout, "md-test") {
			t.Errorf("%s: exit %d, stdout %q", arg, code, stdout)
		}
	}
}

func TestReadRecordsReportsLineAndField(t *testing.T) {
	in := `{"name":"a.org","domains":["a.org"]}` + "\n\n" + `{"name":"b.org","domains":"b.org"}` + "\n"
	_, err := ReadRecords(strings.NewReader(in), "stdin", false)
	if ExitCode(err) != ExitUsage {
		t.Fatalf("exit code %d for %v", ExitCode(err), err)
	}
	if got := err.Error(); !strings.Contains(got, "stdin: line 3: field \"domains\"") {
		t.Errorf("err = %q", got)
	}
	_, err = ReadRecords(strings.NewReader(`{"name":"../x","domains":["../x"]}`), "in.jsonl", true)
	if err == nil || !strings.Contains(err.Error(), "in.jsonl: line 1: field \"name\"") {
		t.Errorf("validation err = %v", err)
	}
	_, err = ReadRecords(strings.NewReader("not json\n"), "stdin", false)
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("garbage err = %v", err)
	}
}

func TestRecordWriterRedactsAndFinishReports(t *testing.T) {
	var out bytes.Buffer
	w := NewRecordWriter(&out)
	recs := []*md.Record{
		{MD: md.MD{Name: "a.org", Domains: []string{"a.org"}, EAB: &md.EAB{KID: "k", HMAC: "topsecret"}}},
		{MD: md.MD{Name: "b.org", Domains: []string{"b.org"}}, Error: &md.StageError{Stage: "order", Detail: "CA said no"}},
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "topsecret") || strings.Count(out.String(), "\n") != 2 {
		t.Errorf("output = %s", out.String())
	}
	var logBuf bytes.Buffer
	if err := Finish(NewLogger("md-order", &logBuf), recs); !errors.Is(err, ErrRecordsFailed) {
		t.Errorf("Finish = %v", err)
	}
	if !strings.Contains(logBuf.String(), "md-order: error: b.org: order: CA said no") {
		t.Errorf("log = %q", logBuf.String())
	}
	// A later stage counts the failure but does not repeat it.
	logBuf.Reset()
	if err := Finish(NewLogger("md-install", &logBuf), recs); !errors.Is(err, ErrRecordsFailed) {
		t.Errorf("Finish in a later stage = %v", err)
	}
	if logBuf.Len() != 0 {
		t.Errorf("later stage repeated the error: %q", logBuf.String())
	}
}

// Failures alike but for the MD's name are shown GroupedWarnings times and
// counted; -v shows each. A failure unlike the others is always shown.
func TestFinishGroupsFailuresAlike(t *testing.T) {
	var recs []*md.Record
	fail := func(name, detail string) {
		recs = append(recs, &md.Record{MD: md.MD{Name: name}, Error: &md.StageError{Stage: "order", Detail: detail}})
	}
	for i := range 10 {
		fail(fmt.Sprintf("d%d.org", i), "the CA at https://ca.test/dir is down")
	}
	for i := range 5 {
		n := fmt.Sprintf("r%d.org", i)
		fail(n, "the staged set for "+n+" was rejected")
	}
	// what the breaker says differs by the count, the time and the
	// certificate: still alike
	for i := range 4 {
		fail(fmt.Sprintf("s%d.org", i), fmt.Sprintf("certificate %040x: %d requests in a row to r.test got no answer; not asked again before 11:3%d:07 UTC", i+1, 5+i, i))
	}
	fail("odd.org", "something else")
	recs = append(recs, &md.Record{MD: md.MD{Name: "fine.org"}})
	for _, tc := range []struct {
		verbose     int
		errorLines  int
		countsShown []string
	}{
		{0, 3 + 3 + 3 + 1 + 3, []string{"7 more MDs failed alike: <name>: order: the CA at https://ca.test/dir is down",
			"2 more MDs failed alike: <name>: order: the staged set for <name> was rejected",
			"1 more MD failed alike: <name>: order: certificate <id>: <n> requests in a row to r.test got no answer; not asked again before <time> UTC"}},
		{1, 20, nil},
	} {
		var logBuf bytes.Buffer
		log := NewLogger("md-order", &logBuf)
		log.Verbose = tc.verbose
		if err := Finish(log, recs); !errors.Is(err, ErrRecordsFailed) {
			t.Errorf("-v %d: Finish = %v", tc.verbose, err)
		}
		if got := strings.Count(logBuf.String(), "md-order: error: "); got != tc.errorLines {
			t.Errorf("-v %d: %d error lines, want %d\n%s", tc.verbose, got, tc.errorLines, logBuf.String())
		}
		for _, c := range tc.countsShown {
			if !strings.Contains(logBuf.String(), c) {
				t.Errorf("-v %d: no line %q\n%s", tc.verbose, c, logBuf.String())
			}
		}
		if !strings.Contains(logBuf.String(), "error: odd.org: order: something else") || strings.Contains(logBuf.String(), "fine.org") {
			t.Errorf("-v %d: the odd failure is hidden or a fine MD is named\n%s", tc.verbose, logBuf.String())
		}
		if tc.verbose > 0 && strings.Contains(logBuf.String(), "more MDs failed alike") {
			t.Errorf("-v shows a count instead of the failures\n%s", logBuf.String())
		}
	}
}

// The completion scripts in scripts/completion ask the command for its flags.
func TestCompletionListsFlags(t *testing.T) {
	tool := testTool(func(context.Context, *ucli.Context, Env, *Logger) error { return errors.New("must not run") })
	// urfave/cli reads the word before the completion flag from os.Args.
	saved := os.Args
	os.Args = []string{"md-test", "-", "--generate-bash-completion"}
	defer func() { os.Args = saved }()
	code, stdout, _ := run(t, tool, "", "-", "--generate-bash-completion")
	if code != 0 || !strings.Contains(stdout, "--store") || !strings.Contains(stdout, "--verbose") {
		t.Errorf("exit %d, completion output %q", code, stdout)
	}
}
