// Command md-install: activate staged certificates, write web-server files, reload and verify.
package main

import (
	"context"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/install"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

func main() { cli.Main(tool()) }

const description = `Reads MD records (JSON Lines, from md-order or md-parse) and, for every MD
whose staged certificate set is complete and ready, makes it the live set in
the store (staging -> tmp -> domains/<md>, the old set to archive/<md>.N)
in one atomic exchange; an invalid staged set is rejected and purged, the
live set untouched. Then it writes what the web server needs, runs one
reload command and checks over TLS that the new certificate is served.
Records go out on stdout with an "install" section (action none, waiting,
activated, rejected or failed; served; certs). One run locks at most the
open file limit (ulimit -n) less 1024 staged MDs; the others stay staged
for the next run.

Outputs:
  --apache-dir DIR   one snippet per MD, DIR/<md>.conf, for IncludeOptional
                     (it does not exist before the first run) inside each
                     <VirtualHost> of the MD: SSLCertificateFile/KeyFile per key
                     spec, MDRequireHttps as mod_rewrite/mod_headers rules, and
                     mod_md's fallback certificate (503) before the first one
  host.deploy        (md.toml deploy-dir) the MD's path becomes a symlink to a
                     set of cert.pem chain.pem fullchain.pem privkey.pem
                     combined.pem, switched atomically
  --reload-cmd CMD   run once after changes (no shell), then verify; a failed
                     reload or check is retried by the next run

Examples:
  md-parse /etc/apache2/apache2.conf | md-order | \
      md-install --apache-dir /etc/apache2/md --reload-cmd 'apache2ctl graceful'
  md-parse /etc/mdtools/md.toml | md-order | md-install --reload-cmd 'systemctl reload nginx'
  md-parse md.toml | md-order | md-install --reload-cmd 'systemctl reload haproxy' \
      --verify-addr 127.0.0.1:443
  md-install --all --no-verify < /dev/null     # activate what is staged, no server
  md-install --all | jq -c '{name, action: .install.action, served: .install.served}'
  md-install --all --config /etc/apache2/apache2.conf   # the store Apache's config names
  md-parse /etc/mdtools/md.toml | md-install --watch --store etcd://10.0.0.5:2379/mdtools \
      --reload-cmd 'systemctl reload nginx'   # every node of a fleet: deploy what any node activates

Watch mode (--watch, a store in etcd): md-install stays running, installs
every MD once at start, then, within moments of any node activating a new
certificate for one of its MDs, deploys it here, reloads and checks it, and
writes the records of each run. An MD it cannot install (locked by the
activating node, reload failed) is tried again, waiting 5 s, then twice as
long each time up to 10 minutes. SIGTERM or SIGINT stops it (exit 0).

` + cli.StoreRule + `

Exit status: 0 all fine, 1 some record failed, 2 usage or input error,
3 an MD or the store is locked by another run (see --wait).
See md-install(1).`

func tool() cli.Tool {
	flags := append(cli.StoreFlags(), cli.ConfigFlag(),
		&ucli.BoolFlag{Name: "all", Usage: "process every MD in the store instead of records on stdin (find the store with --config or --store)"},
		&ucli.StringFlag{Name: "apache-dir", Usage: "write one Apache snippet per MD into `DIR` (<md>.conf)"},
		&ucli.StringFlag{Name: "reload-cmd", Usage: "`COMMAND` run once after changes, no shell (default: the records' settings.reload-cmd)"},
		&ucli.DurationFlag{Name: "reload-timeout", Value: time.Minute, Usage: "how long the reload command may take"},
		&ucli.BoolFlag{Name: "no-verify", Usage: "do not check over TLS that the server serves the new certificate"},
		&ucli.DurationFlag{Name: "verify-timeout", Value: 30 * time.Second, Usage: "how long to retry the served-certificate check"},
		&ucli.StringFlag{Name: "verify-addr", Usage: "`HOST:PORT` to check MDs whose record names no https address"},
		&ucli.BoolFlag{Name: "watch", Usage: "stay running: apply every activation in the store (etcd) to this node as it happens, until SIGTERM"},
		&ucli.StringFlag{Name: "apache-store-dir", Usage: "the store directory as Apache sees it, for the snippets (`DIR`; default: the store used)"},
	)
	return cli.Tool{
		Name:        "md-install",
		Usage:       "activate staged certificates, write web-server files, reload and verify",
		ArgsUsage:   "[RECORDS.jsonl ...]",
		Description: description,
		Flags:       flags,
		Action:      action,
	}
}

func action(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	var reload []string
	if s := c.String("reload-cmd"); s != "" {
		argv := event.Tokenize(s)
		if len(argv) == 0 {
			return cli.Usagef("--reload-cmd: no command in %q", s)
		}
		reload = argv
	}
	if c.Bool("all") && c.Args().Len() > 0 {
		return cli.Usagef("--all reads the store; do not name input files")
	}
	notes := &install.Notes{}
	stage := &cli.Stage{
		LockedHint: "another md-order or md-install is working on them; run again later or raise --wait",
		Start: func(_ context.Context, st *store.Store, recs []*md.Record) (*cli.Work, error) {
			opts := install.Options{
				Store:         st,
				StoreDir:      c.String("apache-store-dir"),
				LockWait:      c.Duration("wait"),
				ApacheDir:     c.String("apache-dir"),
				ReloadCmd:     reload,
				ReloadTimeout: c.Duration("reload-timeout"),
				NoVerify:      c.Bool("no-verify"),
				VerifyTimeout: c.Duration("verify-timeout"),
				VerifyAddr:    c.String("verify-addr"),
				Log:           log,
				Notes:         notes,
			}
			if c.Bool("watch") {
				return watchWork(env, opts, st, recs, c.Bool("all")), nil
			}
			inst, err := install.NewInstaller(opts)
			if err != nil {
				// --apache-dir on a store Apache cannot read, without
				// --apache-store-dir: nothing is done
				return nil, cli.Usagef("%v", err)
			}
			// the MDs with nothing to do as they come, then one batch:
			// activations in parallel, then a single reload
			return &cli.Work{Batch: func(ctx context.Context, recs []*md.Record) ([]*md.Record, error) {
				return recs, inst.Run(ctx, recs)
			}, Quick: inst.Quick, Until: notes.Until}, nil
		},
	}
	if c.Bool("all") {
		stage.FromStore = install.StoreRecords
	}
	// The Apache snippets and fallback certificates are written for all
	// records at once: a run that replays some of them cannot. --watch
	// reads its records before it starts watching.
	if !c.Bool("watch") {
		stage.Memo = &cli.MemoSpec{Stage: "install", Paths: install.MemoPaths, Extra: install.MemoExtra, Off: c.String("apache-dir") != ""}
	}
	return stage.Run(ctx, c, env, log)
}
