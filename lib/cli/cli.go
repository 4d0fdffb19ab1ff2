// Package cli is the stdio contract shared by every md-* binary: how a
// command is wired (urfave/cli), where its input comes from, how records are
// read and written, how it logs, and which exit code it returns.
//
//   - stdout carries only the JSON Lines record stream;
//   - logs, warnings and errors go to stderr as "md-x: error: ...";
//   - exit 0 all good, 1 some record failed, 2 usage or input error
//     (nothing processed), 3 store locked by another run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// Exit codes, the same in every binary and documented in every man page.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
	ExitLocked = 3
)

// Version is stamped at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// ErrRecordsFailed is returned by an action when at least one record
// failed; the records carry the details and were already reported.
var ErrRecordsFailed = errors.New("some records failed")

// UsageError is a usage or input problem: exit 2, nothing processed.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Hinted is an error with a hint line for the operator.
type Hinted struct {
	Err  error
	Hint string
}

func (e *Hinted) Error() string { return e.Err.Error() }
func (e *Hinted) Unwrap() error { return e.Err }

// ExitCode maps an error returned by an action to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, store.ErrLocked):
		return ExitLocked
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return ExitFailed
	}
}

// Env is what a command gets from its process, injected so tests run
// commands in-process with buffers.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable; nil means os.Getenv.
	Getenv func(string) string
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Var returns the environment variable k.
func (e Env) Var(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

// Tool describes one md-* binary.
type Tool struct {
	Name        string
	Usage       string // one line
	ArgsUsage   string
	Description string // what it does, input/output, examples
	Flags       []ucli.Flag
	// Action does the work. It returns nil, ErrRecordsFailed, a
	// UsageError, an error wrapping store.ErrLocked, or another error
	// (exit 1).
	Action func(ctx context.Context, c *ucli.Context, env Env, log *Logger) error
	// Verbs are subcommands ("md-challenge setup ..."), each a Tool with
	// its own flags, --help and Action, named "<tool> <verb>" in messages.
	// A tool with verbs and no Action says which verbs there are.
	Verbs []Tool
}

// Main runs a tool as the process and exits with its code; only main calls it.
func Main(t Tool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(t.Name)
	code := Run(ctx, t, os.Args, OSEnv())
	stopProfile()
	stop()
	os.Exit(code)
}

// Run runs a tool with the given arguments and environment and returns the
// exit code.
func Run(ctx context.Context, t Tool, args []string, env Env) int {
	if len(args) > 1 {
		for _, v := range t.Verbs {
			if args[1] == v.Name {
				v.Name = t.Name + " " + v.Name
				return Run(ctx, v, append([]string{v.Name}, args[2:]...), env)
			}
		}
	}
	if t.Action == nil && len(t.Verbs) > 0 {
		t.Action = t.verbMissing
	}
	log := NewLogger(t.Name, env.Stderr)
	var usageErr error
	flags := append(append([]ucli.Flag{}, t.Flags...), verboseFlag())
	app := &ucli.App{
		Name:            t.Name,
		Usage:           t.Usage,
		ArgsUsage:       t.ArgsUsage,
		Description:     t.Description,
		Version:         Version,
		Flags:           flags,
		HideHelpCommand: true,
		// -vv is -v -v (and -nv is -n -v): only single-letter bool flags combine.
		UseShortOptionHandling: true,
		// `md-x --generate-bash-completion` lists flags for the bash and
		// zsh completion scripts in scripts/completion.
		EnableBashCompletion: true,
		Writer:               env.Stdout, // only --help and --version, asked for explicitly
		ErrWriter:            env.Stderr,
		ExitErrHandler:       func(*ucli.Context, error) {}, // never os.Exit from cli
		OnUsageError: func(_ *ucli.Context, err error, _ bool) error {
			usageErr = &UsageError{Err: explainFlagError(err, flags)}
			return usageErr
		},
		Action: func(c *ucli.Context) error {
			log.Verbose = c.Count("verbose")
			node, err := md.NodeName(env.Var)
			if err != nil {
				return &UsageError{Err: err}
			}
			md.SetNode(node) // job log entries name the node that wrote them
			return t.Action(c.Context, c, env, log)
		},
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return ExitOK
	}
	if usageErr == nil && isFlagError(err) {
		err = &UsageError{Err: explainFlagError(err, flags)}
	}
	if !errors.Is(err, ErrRecordsFailed) {
		log.Error(err)
	}
	return ExitCode(err)
}

// isFlagError recognises urfave/cli's own flag-parsing errors, which it
// returns without calling OnUsageError.
func isFlagError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") || strings.HasPrefix(msg, "flag needs an argument") ||
		strings.HasPrefix(msg, "invalid value") || strings.HasPrefix(msg, "invalid boolean value") || strings.Contains(msg, "Required flag")
}

func verboseFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log what is done to stderr (repeat for more)", Count: new(int)}
}

func init() {
	// urfave/cli gives -v to --version; -v is verbose here, as in most tools.
	ucli.VersionFlag = &ucli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version"}
}

// verbMissing is the action of a tool with verbs when none came first.
func (t Tool) verbMissing(_ context.Context, c *ucli.Context, _ Env, _ *Logger) error {
	names := make([]string, len(t.Verbs))
	for i, v := range t.Verbs {
		names[i] = v.Name
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(names) == 1 {
		want = names[0]
	}
	if c.NArg() == 0 {
		return Usagef("missing command: %s (see %s --help)", want, t.Name)
	}
	arg := c.Args().First()
	for _, n := range names {
		if arg == n {
			return Usagef("put the command first: %s %s [OPTIONS] [ARGS...]", t.Name, n)
		}
	}
	err := fmt.Errorf("unknown command %q: want %s", arg, want)
	if s := Nearest(arg, names); s != "" {
		return &UsageError{Err: &Hinted{Err: err, Hint: "did you mean " + t.Name + " " + s + "?"}}
	}
	return &UsageError{Err: err}
}
