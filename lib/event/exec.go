package event

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Command output kept per stream; the rest is dropped.
const maxOutput = 64 << 10

// ExitNotStarted is the exit code reported for a command that could not be
// started (not found, not executable), as Apache's APR child reports it.
const ExitNotStarted = 255

// Result is the outcome of one command run.
type Result struct {
	// ExitCode is the exit status; 128+N when killed by signal N (also on
	// timeout); ExitNotStarted when the program could not be started.
	ExitCode int
	Stdout   []byte // at most 64 KiB
	Stderr   []byte // at most 64 KiB
	// Err says why the command did not run to completion (start failure,
	// timeout, cancellation); nil when it exited on its own.
	Err error
}

// Failed reports whether the run counts as a failure: it did not complete,
// or exited nonzero.
func (r Result) Failed() bool { return r.Err != nil || r.ExitCode != 0 }

// Run executes argv as mod_md's md_util_exec does: argv[0] is the program,
// run directly (no shell, no PATH search: a name without '/' is relative to
// the working directory), with the inherited environment and stdin closed
// (/dev/null). stdout and stderr are captured. The command and everything
// it started (its process group) are killed after timeout (0 = no limit
// beyond ctx).
func Run(ctx context.Context, argv []string, timeout time.Duration) Result {
	return RunEnv(ctx, argv, timeout, nil)
}

// RunEnv is Run with env added to the inherited environment.
func RunEnv(ctx context.Context, argv []string, timeout time.Duration, env []string) Result {
	if len(argv) == 0 || argv[0] == "" {
		return Result{ExitCode: ExitNotStarted, Err: errors.New("empty command")}
	}
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return Result{ExitCode: ExitNotStarted, Err: fmt.Errorf("command argument %q contains a NUL byte", a)}
		}
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var stdout, stderr capped
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Stdout: &stdout, Stderr: &stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}, WaitDelay: 2 * time.Second}
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: ExitNotStarted, Err: fmt.Errorf("starting %s: %w", argv[0], err)}
	}
	done := make(chan struct{})
	go func() { // kill the whole process group on timeout or cancellation
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	werr := cmd.Wait()
	close(done)
	r := Result{Stdout: stdout.buf, Stderr: stderr.buf}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.ExitCode = 128 + int(ws.Signal())
	} else {
		r.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.Err = fmt.Errorf("%s timed out after %v", argv[0], timeout)
	case ctx.Err() != nil:
		r.Err = fmt.Errorf("%s: %w", argv[0], ctx.Err())
	case werr != nil && !isExitError(werr):
		r.Err = werr
	}
	return r
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// capped keeps the first maxOutput bytes written to it.
type capped struct{ buf []byte }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Tokenize splits a command line into argv exactly as Apache's
// apr_tokenize_to_argv does for MDMessageCmd, MDNotifyCmd and
// MDChallengeDns01: arguments are separated by spaces and tabs; an argument
// that starts with a double or single quote runs to the matching quote;
// a backslash escapes a following space, tab, quote or backslash, and every
// unescaped backslash is removed from the result.
func Tokenize(line string) []string {
	var argv []string
	i := 0
	skipWS := func() {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
	}
	skipWS()
	for i < len(line) {
		quote := byte(0)
		if line[i] == '"' || line[i] == '\'' {
			quote = line[i]
			i++
		}
		start := i
		for i < len(line) {
			c := line[i]
			if c == '\\' && i+1 < len(line) {
				switch line[i+1] {
				case ' ', '\t', '"', '\'', '\\':
					i += 2
					continue
				}
			}
			if quote == 0 && (c == ' ' || c == '\t') || quote != 0 && c == quote {
				break
			}
			i++
		}
		argv = append(argv, unescape(line[start:i]))
		if i < len(line) {
			i++ // the separator or closing quote
		}
		skipWS()
	}
	return argv
}

// unescape removes backslashes as APR's REMOVE_ESCAPE_CHARS: each
// unescaped backslash is dropped and the next character kept.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	escaped := false
	for i := 0; i < len(s); i++ {
		if !escaped && s[i] == '\\' {
			escaped = true
			continue
		}
		escaped = false
		b.WriteByte(s[i])
	}
	return b.String()
}
