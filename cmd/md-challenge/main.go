// Command md-challenge: set up, tear down and serve ACME challenges (http-01, tls-alpn-01, dns-01).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/cli"
	ucli "github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, cli.OSEnv())
	stop()
	os.Exit(code)
}

// run dispatches "md-challenge <verb> ..." to the verb's own tool, so each
// verb has its own flags and --help; anything else goes to the top tool.
func run(ctx context.Context, args []string, env cli.Env) int {
	if len(args) > 1 {
		for _, v := range verbs() {
			if args[1] == v.Name {
				v.Name = "md-challenge " + v.Name
				return cli.Run(ctx, v, append([]string{v.Name}, args[2:]...), env)
			}
		}
	}
	return cli.Run(ctx, tool(), args, env)
}

func tool() cli.Tool {
	return cli.Tool{
		Name:        "md-challenge",
		Usage:       "set up, tear down and serve ACME challenges (http-01, tls-alpn-01, dns-01)",
		ArgsUsage:   "setup|teardown|serve [OPTIONS] [ARGS...]",
		Description: topDescription,
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			if c.NArg() == 0 {
				return cli.Usagef("missing command: setup, teardown or serve (see md-challenge --help)")
			}
			for _, v := range verbs() {
				if c.Args().First() == v.Name {
					return cli.Usagef("put the command first: md-challenge %s [OPTIONS] [ARGS...]", v.Name)
				}
			}
			err := fmt.Errorf("unknown command %q: want setup, teardown or serve", c.Args().First())
			if s := cli.Nearest(c.Args().First(), []string{"setup", "teardown", "serve"}); s != "" {
				return &cli.UsageError{Err: &cli.Hinted{Err: err, Hint: "did you mean md-challenge " + s + "?"}}
			}
			return &cli.UsageError{Err: err}
		},
	}
}

func verbs() []cli.Tool {
	return []cli.Tool{setupTool(true), setupTool(false), serveTool()}
}

func storeFlag() ucli.Flag { return cli.StoreFlags()[0] }

func setupTool(setup bool) cli.Tool {
	name, usage, desc := "setup", "put challenge data in place for a task list", setupDescription
	if !setup {
		name, usage, desc = "teardown", "remove challenge data of a task list (or all of the input MDs)", teardownDescription
	}
	return cli.Tool{
		Name: name, Usage: usage, Description: desc, ArgsUsage: "[RECORDS.jsonl|-]...",
		Flags: []ucli.Flag{
			storeFlag(),
			&ucli.StringFlag{Name: "tasks", Aliases: []string{"t"}, Usage: "task list (`FILE`, JSON Lines; required for setup)"},
			&ucli.DurationFlag{Name: "timeout", Value: challenge.DefaultCommandTimeout, Usage: "time limit for each dns-01 command run"},
		},
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return runTasks(ctx, c, env, log, setup)
		},
	}
}

func serveTool() cli.Tool {
	return cli.Tool{
		Name: "serve", Usage: "answer http-01 and tls-alpn-01 from the store until stopped", Description: serveDescription,
		Flags: []ucli.Flag{
			storeFlag(), cli.ConfigFlag(),
			&ucli.StringFlag{Name: "http", Usage: "serve http-01 on `ADDR` (host:port, e.g. :80)"},
			&ucli.StringFlag{Name: "tls", Usage: "serve tls-alpn-01 (acme-tls/1) on `ADDR` (host:port, e.g. :443)"},
		},
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			if c.String("http") == "" && c.String("tls") == "" {
				return cli.Usagef("serve needs --http ADDR, --tls ADDR or both")
			}
			if c.NArg() > 0 {
				return cli.Usagef("serve takes no arguments")
			}
			st, err := cli.OpenStore(c, env, log, nil)
			if err != nil {
				return err
			}
			return challenge.Serve(ctx, st, c.String("http"), c.String("tls"), log, func(s *challenge.Servers) {
				if a := s.HTTPAddr(); a != nil {
					log.Infof("serving http-01 on %s", a)
				}
				if a := s.TLSAddr(); a != nil {
					log.Infof("serving tls-alpn-01 on %s", a)
				}
			})
		},
	}
}

func runTasks(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger, setup bool) error {
	tasksFile := c.String("tasks")
	if setup && tasksFile == "" {
		return cli.Usagef("setup needs --tasks FILE (JSON Lines of {\"md\",\"type\",\"domain\",\"token\",\"key-authorization\"})")
	}
	files := c.Args().Slice()
	if tasksFile == "-" && (len(files) == 0 || contains(files, "-")) {
		return cli.Usagef("--tasks - reads stdin, so name the record files as arguments")
	}
	recs, err := cli.OpenInputs(files, env.Stdin, true)
	if err != nil {
		return err
	}
	var tasks []challenge.TaskLine
	if tasksFile != "" {
		in, name := env.Stdin, "stdin"
		if tasksFile != "-" {
			f, err := os.Open(tasksFile)
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			defer f.Close()
			in, name = f, tasksFile
		}
		if tasks, err = challenge.ReadTasks(in, name, setup); err != nil {
			return &cli.UsageError{Err: err}
		}
		for i, tl := range tasks {
			if _, err := challenge.MatchRecord(recs, tl); err != nil {
				return cli.Usagef("%s: task %d (%s): %v", name, i+1, tl.Task, err)
			}
		}
	} else {
		tasks = challenge.StoredTasks(recs)
	}
	st, err := cli.OpenStore(c, env, log, recs)
	if err != nil {
		return err
	}
	m, err := challenge.New(st, challenge.Options{NoListen: true, CommandTimeout: c.Duration("timeout"), Log: log})
	if err != nil {
		return err
	}
	defer m.Close()
	failed, err := challenge.Apply(ctx, m, recs, tasks, setup)
	if err != nil {
		return err
	}
	log.Infof("%d tasks, %d failed", len(tasks), failed)
	w := cli.NewRecordWriter(env.Stdout)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
	}
	return cli.Finish(log, recs)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
