package event

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

func script(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "event", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readLog(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// memLog collects log lines.
type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) Infof(f string, a ...any)  { l.add("info: " + fmt.Sprintf(f, a...)) }
func (l *memLog) Warnf(f string, a ...any)  { l.add("warn: " + fmt.Sprintf(f, a...)) }
func (l *memLog) Debugf(f string, a ...any) { l.add("debug: " + fmt.Sprintf(f, a...)) }
func (l *memLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}
func (l *memLog) String() string { return strings.Join(l.lines, "\n") }

var t0 = time.Date(2026, 4, 28, 14, 5, 12, 0, time.UTC)

func TestMessageCmdArgv(t *testing.T) {
	rec := script(t, "record-argv")
	reasons := []string{Renewing, Renewed, Installed, Expiring, Errored, OCSPRenewed, OCSPErrored,
		"challenge-setup:http-01:www.a.test", "challenge-setup:dns-01:a.test", "challenge-setup:tls-alpn-01:a.test"}
	for _, reason := range reasons {
		t.Run(reason, func(t *testing.T) {
			t.Parallel()
			logf := filepath.Join(t.TempDir(), "log")
			n := New(&md.Settings{MessageCmd: []string{rec, logf, "with space"}})
			job := &md.Job{Name: "a.test"}
			if err := n.Raise(context.Background(), job, reason, "a.test", t0); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("[%s][%s][with space][%s][a.test] stdin-eof", rec, logf, reason)
			if got := readLog(t, logf); len(got) != 1 || got[0] != want {
				t.Fatalf("argv log %q; want %q", got, want)
			}
			if len(job.Log.Entries) != 1 || job.Log.Entries[0].Type != "message-"+reason || !job.Log.Entries[0].When.Equal(t0) {
				t.Errorf("job log %+v; want one message-%s entry at %v", job.Log.Entries, reason, t0)
			}
		})
	}
}

func TestRenewedRunsNotifyThenMessage(t *testing.T) {
	rec := script(t, "record-argv")
	logf := filepath.Join(t.TempDir(), "log")
	n := New(&md.Settings{MessageCmd: []string{rec, logf, "msg"}, NotifyCmd: []string{rec, logf, "notify", "extra"}})
	job := &md.Job{Name: "a.test"}
	if err := n.Raise(context.Background(), job, Renewed, "a.test", t0); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("[%s][%s][notify][extra][a.test] stdin-eof", rec, logf),
		fmt.Sprintf("[%s][%s][msg][renewed][a.test] stdin-eof", rec, logf),
	}
	if got := readLog(t, logf); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The notify command runs for "renewed" only.
	if err := n.Raise(context.Background(), job, Installed, "a.test", t0); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, logf); len(got) != 3 || !strings.Contains(got[2], "[msg][installed]") {
		t.Fatalf("after installed: %q", got)
	}
}

func TestRateLimits(t *testing.T) {
	rec := script(t, "record-argv")
	tests := []struct {
		reason string
		limit  time.Duration
	}{
		{Renewing, time.Hour}, {Renewed, 24 * time.Hour}, {Installed, 24 * time.Hour}, {Expiring, 24 * time.Hour},
		{Errored, time.Hour}, {OCSPRenewed, 24 * time.Hour}, {OCSPErrored, time.Hour},
		{"challenge-setup:http-01:a.test", 0},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			logf := filepath.Join(t.TempDir(), "log")
			n := New(&md.Settings{MessageCmd: []string{rec, logf}})
			job := &md.Job{Name: "a.test"}
			ctx := context.Background()
			runs := 0
			for _, at := range []time.Duration{0, tc.limit - time.Second, tc.limit} {
				if err := n.Raise(ctx, job, tc.reason, "a.test", t0.Add(at)); err != nil {
					t.Fatal(err)
				}
			}
			runs = len(readLog(t, logf))
			want := 2
			if tc.limit == 0 {
				want = 3
			}
			if runs != want {
				t.Errorf("%d runs at 0, limit-1s, limit; want %d", runs, want)
			}
			if len(job.Log.Entries) != want {
				t.Errorf("%d job entries; want %d", len(job.Log.Entries), want)
			}
		})
	}
}

func TestRateLimitFromStoredJob(t *testing.T) {
	// A job.json as mod_md writes it: the newest message-renewed counts.
	var job md.Job
	if err := job.UnmarshalJSON([]byte(`{"name":"a.test","finished":true,"notified":true,"notified-renewed":true,"errors":0,
		"log":{"entries":[{"when":"Tue, 28 Apr 2026 14:05:14 GMT","type":"message-renewed"}]}}`)); err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(t.TempDir(), "log")
	n := New(&md.Settings{MessageCmd: []string{script(t, "record-argv"), logf}})
	if err := n.Raise(context.Background(), &job, Renewed, "a.test", t0.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, logf); got != nil {
		t.Fatalf("rate-limited event ran: %q", got)
	}
}

func TestNoCommandStillLogs(t *testing.T) {
	job := &md.Job{Name: "a.test"}
	if err := New(&md.Settings{}).Raise(context.Background(), job, Renewed, "a.test", t0); err != nil {
		t.Fatal(err)
	}
	if err := New(nil).Raise(context.Background(), job, Errored, "a.test", t0); err != nil {
		t.Fatal(err)
	}
	if len(job.Log.Entries) != 2 || job.Log.Entries[0].Type != "message-errored" || job.Log.Entries[1].Type != "message-renewed" {
		t.Fatalf("job log %+v", job.Log.Entries)
	}
	if err := New(nil).Raise(context.Background(), nil, Errored, "a.test", t0); err != nil {
		t.Fatalf("nil job: %v", err)
	}
}

func TestMessageCmdFailure(t *testing.T) {
	fail := script(t, "fail")
	tests := []struct {
		name     string
		argv     []string
		exitCode int
	}{
		{"exit 3", []string{fail, "3"}, 3},
		{"exit 200", []string{fail, "200"}, 200},
		{"not found", []string{"/nonexistent/blablabla"}, ExitNotStarted},
		{"relative name is not searched in PATH", []string{"sh"}, ExitNotStarted},
		{"not executable", []string{filepath.Join("..", "..", "testdata", "event", "..", "..", "go.mod")}, ExitNotStarted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := &memLog{}
			n := New(&md.Settings{MessageCmd: tc.argv})
			n.Log = log
			job := &md.Job{Name: "a.test"}
			err := n.Raise(context.Background(), job, Renewing, "a.test", t0)
			var se *md.StageError
			if !errors.As(err, &se) {
				t.Fatalf("got %v; want a StageError", err)
			}
			wantDetail := fmt.Sprintf("MDMessageCmd %s failed with exit code %d.", strings.Join(tc.argv, " "), tc.exitCode)
			if se.Problem != ProblemMessageCmd || se.Detail != wantDetail {
				t.Errorf("got %q %q; want %q %q", se.Problem, se.Detail, ProblemMessageCmd, wantDetail)
			}
			e := job.Log.Entries
			if len(e) != 1 || e[0].Type != "message-error" || e[0].Status != Renewing || e[0].Detail != wantDetail {
				t.Errorf("job log %+v; want one message-error entry", e)
			}
			if tc.exitCode == 3 && !strings.Contains(log.String(), "warn: cmd("+fail+") stderr: fail: exiting with 3") {
				t.Errorf("stderr not logged:\n%s", log)
			}
			// A failed run does not count for the rate limit: the next try runs again.
			if _, ok := job.LastEntry("message-renewing"); ok {
				t.Error("failed run logged as message-renewing")
			}
		})
	}
}

func TestNotifyCmdFailureStopsMessage(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "log")
	fail := script(t, "fail")
	n := New(&md.Settings{NotifyCmd: []string{fail, "2"}, MessageCmd: []string{script(t, "record-argv"), logf}})
	job := &md.Job{Name: "a.test"}
	err := n.Raise(context.Background(), job, Renewed, "a.test", t0)
	var se *md.StageError
	if !errors.As(err, &se) || se.Problem != ProblemNotifyCmd || se.Detail != "MDNotifyCmd "+fail+" 2 failed with exit code 2." {
		t.Fatalf("got %#v", err)
	}
	if e := job.Log.Entries; len(e) != 1 || e[0].Type != "notify-error" || e[0].Status != ProblemNotifyCmd {
		t.Errorf("job log %+v", e)
	}
	if got := readLog(t, logf); got != nil {
		t.Errorf("message command ran after the notify command failed: %q", got)
	}
}

func TestPATHIsNotSearched(t *testing.T) {
	t.Setenv("PATH", filepath.Dir(script(t, "record-argv"))+string(os.PathListSeparator)+os.Getenv("PATH"))
	logf := filepath.Join(t.TempDir(), "log")
	n := New(&md.Settings{MessageCmd: []string{"record-argv", logf}})
	if err := n.Raise(context.Background(), nil, Errored, "a.test", t0); err == nil {
		t.Fatal("a bare command name was found through PATH")
	}
	if got := readLog(t, logf); got != nil {
		t.Fatalf("command ran: %q", got)
	}
}

func TestTimeoutKillsCommandGroup(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "log")
	n := New(&md.Settings{MessageCmd: []string{script(t, "hang"), logf}})
	n.Timeout = 300 * time.Millisecond
	log := &memLog{}
	n.Log = log
	job := &md.Job{Name: "a.test"}
	err := n.Raise(context.Background(), job, Renewing, "a.test", t0)
	var se *md.StageError
	if !errors.As(err, &se) || se.Problem != ProblemMessageCmd || !strings.HasSuffix(se.Detail, "failed with exit code 137.") {
		t.Fatalf("got %v; want a failure with exit code 137 (SIGKILL)", err)
	}
	if !strings.Contains(log.String(), "timed out after 300ms") {
		t.Errorf("timeout not logged:\n%s", log)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Run(ctx, []string{script(t, "hang"), filepath.Join(t.TempDir(), "log")}, 0)
	if res.Err == nil || !errors.Is(res.Err, context.Canceled) && !strings.Contains(res.Err.Error(), "canceled") {
		t.Fatalf("got %+v; want a cancellation error", res)
	}
}

func TestInvalidReasonOrNameRunsNothing(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "log")
	n := New(&md.Settings{MessageCmd: []string{script(t, "record-argv"), logf}})
	tests := []struct{ reason, name string }{
		{"renewed; rm -rf /", "a.test"},
		{"", "a.test"},
		{"challenge-setup", "a.test"},
		{"challenge-setup:http-01", "a.test"},
		{"challenge-setup:ftp-01:a.test", "a.test"},
		{"challenge-setup:http-01:../../x", "a.test"},
		{"challenge-setup:dns-01:*.a.test", "a.test"},
		{"challenge-setup:http-01:-a.test", "a.test"},
		{Renewed, "-rf"},
		{Renewed, "a.test b.test"},
		{Renewed, "../a.test"},
		{Renewed, "*.a.test"},
		{Renewed, ""},
	}
	for _, tc := range tests {
		job := &md.Job{}
		if err := n.Raise(context.Background(), job, tc.reason, tc.name, t0); err == nil {
			t.Errorf("Raise(%q, %q) succeeded", tc.reason, tc.name)
		}
		if len(job.Log.Entries) != 0 {
			t.Errorf("Raise(%q, %q) logged %+v", tc.reason, tc.name, job.Log.Entries)
		}
	}
	if got := readLog(t, logf); got != nil {
		t.Fatalf("commands ran: %q", got)
	}
}

func TestConcurrentRaise(t *testing.T) {
	rec := script(t, "record-argv")
	logf := filepath.Join(t.TempDir(), "log")
	n := New(&md.Settings{MessageCmd: []string{rec, logf}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := &md.Job{}
			if err := n.Raise(context.Background(), job, Renewed, fmt.Sprintf("m%d.test", i), t0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := readLog(t, logf); len(got) != 8 {
		t.Fatalf("%d runs; want 8", len(got))
	}
}
