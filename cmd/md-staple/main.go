// Command md-staple: fetch and persist OCSP responses for installed certificates.
package main

import (
	"context"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

func main() { cli.Main(tool()) }

func tool() cli.Tool {
	flags := append(cli.StoreFlags(), cli.ConfigFlag(),
		&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "staple every MD installed in the store instead of reading records (find the store with --config or --store)"},
		&ucli.StringSliceFlag{Name: "cert", Usage: "also keep a response for this PEM chain `FILE` (leaf, then issuer), stored under ocsp/other/; repeatable"},
		&ucli.BoolFlag{Name: "cert-ocsp-file", Usage: "write the DER response to FILE.ocsp next to each --cert FILE (HAProxy's convention)"},
		&ucli.BoolFlag{Name: "watch", Usage: "stay running: deploy every OCSP response any node stores (etcd store) here as it arrives, until SIGTERM"},
		&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "fetch now, ignoring renew windows and backoff"},
		&ucli.DurationFlag{Name: "timeout", Value: staple.DefaultTimeout, Usage: "time limit of one request to a responder or CRL server"},
		&ucli.IntFlag{Name: "parallel", Value: staple.DefaultParallel, Usage: "requests in flight at most"},
		&ucli.StringFlag{Name: "http-proxy", Usage: "proxy `URL` for responders (MDHttpProxy; overrides the records')"},
		&ucli.StringFlag{Name: "http-proxy-ca-file", Usage: "PEM `FILE` of the CA that signed an https:// proxy's certificate (MDHttpProxyCACertificateFile)"},
		&ucli.StringFlag{Name: "renew-window", Usage: "fetch when this much of a response's validity is left (MDStaplingRenewWindow: `33%` or 2d)"},
		&ucli.StringFlag{Name: "keep-response", Usage: "remove responses of certificates no longer installed after this long (MDStaplingKeepResponse, `7d`)"},
		&ucli.StringFlag{Name: "retry-delay", Usage: "first delay after a failed request, doubled per failure up to a day (MDRetryDelay, `30s`)"},
	)
	return cli.Tool{
		Name:        "md-staple",
		Usage:       "fetch and persist OCSP responses for installed certificates",
		ArgsUsage:   "[RECORDS.jsonl ...]",
		Description: description,
		Flags:       flags,
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			opts := &staple.Options{
				All: c.Bool("all"), CertFiles: c.StringSlice("cert"), CertOCSPOut: c.Bool("cert-ocsp-file"),
				HTTPProxy: c.String("http-proxy"), ProxyCAFile: c.String("http-proxy-ca-file"), RenewWindow: c.String("renew-window"),
				KeepResponse: c.String("keep-response"), RetryDelay: c.String("retry-delay"),
			}
			if err := opts.Validate(); err != nil {
				return cli.Usagef("%v", err)
			}
			if opts.All && c.NArg() > 0 {
				return cli.Usagef("--all reads the MDs from the store; give no record files with it")
			}
			if c.Bool("watch") && len(opts.CertFiles) > 0 {
				return cli.Usagef("--watch deploys the responses of MDs; --cert files are not watched")
			}
			if c.Int("parallel") < 1 {
				return cli.Usagef("--parallel must be at least 1")
			}
			// only the memo reads the notes back: without it they would
			// pile up, one per record
			var notes *staple.Notes
			if memoable(c, opts) && env.Var(cli.NoMemoEnv) == "" {
				notes = &staple.Notes{}
			}
			stage := &cli.Stage{
				// only --cert FILE: no records to read
				NoInput: !opts.All && c.NArg() == 0 && len(opts.CertFiles) > 0,
				Start: func(_ context.Context, st *store.Store, recs []*md.Record) (*cli.Work, error) {
					staple.SetUserAgent("md-staple/" + cli.Version)
					r := &staple.Runner{Store: st, Log: log, Timeout: c.Duration("timeout"), Parallel: c.Int("parallel"),
						Force: c.Bool("force"), LockWait: c.Duration("wait"), Notes: notes}
					if c.Bool("watch") {
						return watchWork(env, r, opts, st, recs), nil
					}
					// warnings alike for many MDs (a failing event command)
					// are counted after three, once the records are written
					alike := &logger.Alike{Log: log}
					r.Log = alike
					if opts.All || len(opts.CertFiles) > 0 {
						// one batch: --cert adds its record after the others
						return &cli.Work{Batch: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
							return r.RunRecords(ctx, recs, opts)
						}, Until: notesUntil(notes), Close: alike.Done}, nil
					}
					w := streamWork(r, opts, notes)
					w.Close = alike.Done
					return w, nil
				},
			}
			if opts.All {
				stage.FromStore = staple.StoreRecords
			}
			// --cert adds a record of its own; settings given as flags
			// override the records' (the memo knows only the records)
			if !c.Bool("watch") {
				stage.Memo = &cli.MemoSpec{Stage: "staple", Paths: staple.MemoPaths, Extra: staple.MemoExtra, Off: !memoable(c, opts)}
			}
			return stage.Run(ctx, c, env, log)
		},
	}
}

// memoable tells whether md-staple may replay remembered answers: not for
// --force, nor with --cert or with settings given as flags (they change
// the answers, and the memo knows only the records).
func memoable(c *ucli.Context, o *staple.Options) bool {
	return !c.Bool("force") && len(o.CertFiles) == 0 &&
		o.HTTPProxy == "" && o.ProxyCAFile == "" && o.RenewWindow == "" && o.KeepResponse == "" && o.RetryDelay == ""
}

// notesUntil is the Until of a Work that gives the memo what notes
// learned (nil without notes).
func notesUntil(notes *staple.Notes) func(*md.Record) (time.Time, bool) {
	if notes == nil {
		return nil
	}
	return notes.Until
}
