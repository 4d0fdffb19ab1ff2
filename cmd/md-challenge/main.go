// Command md-challenge: set up, tear down and serve ACME challenges (http-01, tls-alpn-01, dns-01).
package main

import (
	"context"
	"os"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

func main() { cli.Main(tool()) }

// tool is md-challenge; each verb is its own tool with its own flags and
// --help (cli.Run dispatches "md-challenge <verb> ...").
func tool() cli.Tool {
	return cli.Tool{
		Name:        "md-challenge",
		Usage:       "set up, tear down and serve ACME challenges (http-01, tls-alpn-01, dns-01)",
		ArgsUsage:   "setup|teardown|serve|persist-record|persist-check [OPTIONS] [ARGS...]",
		Description: topDescription,
		Verbs:       verbs(),
	}
}

func verbs() []cli.Tool {
	return []cli.Tool{setupTool(true), setupTool(false), serveTool(), persistTool(false), persistTool(true)}
}

func storeFlag() ucli.Flag { return cli.StoreFlags()[0] }

func setupTool(setup bool) cli.Tool {
	name, usage, desc := "setup", "put challenge data in place for a task list", setupDescription
	if !setup {
		name, usage, desc = "teardown", "remove challenge data of a task list (or all of the input MDs)", teardownDescription
	}
	return cli.Tool{
		Name: name, Usage: usage, Description: desc, ArgsUsage: "[RECORDS.jsonl|-]...",
		Flags: append([]ucli.Flag{
			storeFlag(),
			&ucli.StringFlag{Name: "tasks", Aliases: []string{"t"}, Usage: "task list (`FILE`, JSON Lines; required for setup)"},
			&ucli.DurationFlag{Name: "timeout", Value: challenge.DefaultCommandTimeout, Usage: "time limit for each dns-01 command run"},
		}, cli.EtcdFlags()...),
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return runTasks(ctx, c, env, log, setup)
		},
	}
}

func serveTool() cli.Tool {
	return cli.Tool{
		Name: "serve", Usage: "answer http-01 and tls-alpn-01 from the store until stopped", Description: serveDescription,
		Flags: append([]ucli.Flag{
			storeFlag(), cli.ConfigFlag(),
			&ucli.StringFlag{Name: "http", Usage: "serve http-01 on `ADDR` (host:port, e.g. :80)"},
			&ucli.StringFlag{Name: "tls", Usage: "serve tls-alpn-01 (acme-tls/1) on `ADDR` (host:port, e.g. :443)"},
		}, cli.EtcdFlags()...),
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			if c.String("http") == "" && c.String("tls") == "" {
				return cli.Usagef("serve needs --http ADDR, --tls ADDR or both")
			}
			if c.NArg() > 0 {
				return cli.Usagef("serve takes no arguments")
			}
			st, err := cli.OpenStore(ctx, c, env, log, nil)
			if err != nil {
				return err
			}
			defer st.Close()
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
	if tasksFile == "-" && (c.NArg() == 0 || contains(c.Args().Slice(), "-")) {
		return cli.Usagef("--tasks - reads stdin, so name the record files as arguments")
	}
	var tasks []challenge.TaskLine
	stage := &cli.Stage{
		Checked: func(recs []*md.Record) (err error) {
			tasks, err = readTasks(tasksFile, env, recs, setup)
			return err
		},
		Start: func(_ context.Context, st *store.Store, _ []*md.Record) (*cli.Work, error) {
			m, err := challenge.New(st, challenge.Options{NoListen: true, CommandTimeout: c.Duration("timeout"), Log: log})
			if err != nil {
				return nil, err
			}
			return &cli.Work{Close: func() { m.Close() }, Batch: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
				failed, err := challenge.Apply(ctx, m, recs, tasks, setup)
				if err != nil {
					return nil, err
				}
				log.Infof("%d tasks, %d failed", len(tasks), failed)
				return recs, nil
			}}, nil
		},
	}
	return stage.Run(ctx, c, env, log)
}

// readTasks reads the task list (or, without one, the tasks stored for the
// records) and checks that each task belongs to one of the records.
func readTasks(tasksFile string, env cli.Env, recs []*md.Record, setup bool) ([]challenge.TaskLine, error) {
	if tasksFile == "" {
		return challenge.StoredTasks(recs), nil
	}
	in, name := env.Stdin, "stdin"
	if tasksFile != "-" {
		f, err := os.Open(tasksFile)
		if err != nil {
			return nil, &cli.UsageError{Err: err}
		}
		defer f.Close()
		in, name = f, tasksFile
	}
	tasks, err := challenge.ReadTasks(in, name, setup)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	for i, tl := range tasks {
		if _, err := challenge.MatchRecord(recs, tl); err != nil {
			return nil, cli.Usagef("%s: task %d (%s): %v", name, i+1, tl.Task, err)
		}
	}
	return tasks, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
