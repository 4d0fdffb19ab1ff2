// Command md-status: report every managed domain: JSON, table, HTML, metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/status"
	ucli "github.com/urfave/cli/v2"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// Reports are short-lived garbage: fewer collections than at 100
		// (100,000 MDs without memo: 5-15 % less CPU). 400 spent no less
		// CPU than 200 (within the noise of a shared host) for 1.5-1.7
		// times the peak RSS: JSON 263 -> 162 MB, table 480 -> 281 MB,
		// metrics 653 -> 437 MB.
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// but not without end: a cold run over 100,000 MDs holds the
		// reports of all of them for the table and the metrics
		debug.SetMemoryLimit(768 << 20)
	}
	cli.Main(tool())
}

const description = `md-status reads the store (it writes nothing but its memos) and reports every
managed domain (MD): its certificates, when they expire and renew, the renewal
in progress, OCSP stapling, and what went wrong. The JSON is exactly mod_md's
md-status handler output, so scripts written against Apache's /md-status keep
working. The JSON list, table and metrics remember each MD's part in the
store's memo-status-<view>.bin when the store directory is writable, and show
it again while the MD's files are unchanged, with the times worked out afresh
(the same bytes; MDTOOLS_NO_MEMO=1: read every MD).

Output is JSON when stdout is not a terminal, a table when it is. NAME (an MD
name or any of its domains) selects one MD: on a terminal (or with --text) its
certificates (files, key types, serials, validity), the renewal, the job log
and the next steps; in a pipe mod_md's md-status/NAME JSON with the job log.

Exit status: 0 all readable; 1 an MD has unreadable store files (it is shown
with state 4 and a state-descr naming the file) or NAME is unknown; 2 usage.

Examples:
   md-status -d /var/lib/mdtools                  # table on a terminal, JSON in a pipe
   md-status --config /etc/apache2/apache2.conf   # the store Apache's config names
   md-status example.org                          # certificates, job log, next steps
   md-status example.org | jq '.cert.rsa.valid.until'
   md-status --json | jq -r '."managed-domains"[] | select(.renew) | .name'
   md-status --certificate-status www.example.org
   md-status --plan                               # what md-order/md-install/md-staple will do
   md-status --plan | jq '."sleep-seconds"'       # how long a scheduler may sleep
   md-status --metrics > /var/lib/node_exporter/textfile/md.prom
   md-status --server-status                      # mod_md's server-status?auto lines
   md-status --html > /var/www/html/md-status.html
   md-status --serve 127.0.0.1:8405               # /md-status, /md-status/NAME, /metrics, /

Store: --config FILE's MDStoreDir / store-dir (as md-parse finds it), else
--store, else $MD_STORE, else (Apache config) "md" under ServerRoot, else
/var/lib/mdtools (root) or $XDG_STATE_HOME/mdtools; -v names it.`

func tool() cli.Tool {
	return cli.Tool{
		Name:        "md-status",
		Usage:       "report every managed domain: JSON, table, HTML, metrics",
		ArgsUsage:   "[NAME]",
		Description: description,
		Flags: append([]ucli.Flag{
			cli.StoreFlags()[0], cli.ConfigFlag(),
			&ucli.BoolFlag{Name: "json", Usage: "mod_md's md-status JSON (default when stdout is not a terminal)"},
			&ucli.BoolFlag{Name: "table", Usage: "one line per MD (default on a terminal); with --plan: the plan as text"},
			&ucli.BoolFlag{Name: "text", Usage: "per MD for people: certificates, job log, next steps (default for NAME on a terminal)"},
			&ucli.BoolFlag{Name: "plan", Usage: "what the next md-order, md-install and md-staple runs will do, why, and when"},
			&ucli.BoolFlag{Name: "metrics", Usage: "Prometheus text format (node_exporter textfile collector)"},
			&ucli.BoolFlag{Name: "server-status", Usage: "mod_md's server-status?auto lines"},
			&ucli.BoolFlag{Name: "html", Usage: "a self-contained HTML page: table and details"},
			&ucli.StringFlag{Name: "certificate-status", Usage: "mod_md's /.httpd/certificate-status document for `HOST`"},
			&ucli.StringFlag{Name: "serve", Usage: "serve the views read-only over HTTP on `ADDR` (host:port)"},
			&ucli.StringFlag{Name: "now", Usage: "evaluate as if it were `TIME` (RFC 3339 or RFC 822), e.g. to see what is due next week"},
			&ucli.StringFlag{Name: "certificate-check", Value: "crt.sh https://crt.sh?q=", Usage: "MDCertificateCheck: `\"NAME URL\"`, the fingerprint is appended to URL"},
			&ucli.StringFlag{Name: "stapling-renew-window", Value: md.DefaultStaplingRenewWindow, Usage: "MDStaplingRenewWindow (`WINDOW`) for --plan and --server-status"},
			&ucli.StringFlag{Name: "color", Value: "auto", Usage: "colour the table (`WHEN`): auto (on a terminal, unless $NO_COLOR), always, never"},
		}, cli.EtcdFlags()...),
		Action: run,
	}
}

// options are the rendering options from the flags.
func options(c *ucli.Context, env cli.Env, tty bool) (status.Options, error) {
	opts := status.DefaultOptions()
	var err error
	if s := c.String("certificate-check"); s != "" {
		if opts.Check, err = status.ParseCertCheck(s); err != nil {
			return opts, cli.Usagef("--certificate-check %v", err)
		}
	}
	if opts.StaplingWindow, err = md.ParseTimeslice(c.String("stapling-renew-window"), md.Day); err != nil {
		return opts, cli.Usagef("--stapling-renew-window: %v", err)
	}
	if opts.Color, err = status.ParseColor(c.String("color"), tty, env.Var("NO_COLOR")); err != nil {
		return opts, cli.Usagef("--color %v", err)
	}
	return opts, nil
}

func run(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	status.Version = cli.Version
	if c.NArg() > 1 {
		return cli.Usagef("at most one NAME, got %d", c.NArg())
	}
	tty := cli.IsTerminal(env.Stdout)
	opts, err := options(c, env, tty)
	if err != nil {
		return err
	}
	name := c.Args().First()
	view, views := status.ChooseView(c.Bool, tty, name != "")
	if host := c.String("certificate-status"); host != "" {
		views++
		view, name = status.ViewCertStatus, host
		if c.NArg() > 0 {
			return cli.Usagef("--certificate-status takes the name itself; no NAME argument")
		}
	}
	if views > 1 {
		return cli.Usagef("choose one of --json, --table, --text, --plan, --metrics, --server-status, --html, --certificate-status")
	}

	ch, err := cli.StoreFor(c, env, log, nil)
	if err != nil {
		return err
	}
	st, err := cli.OpenReadOnly(ctx, ch)
	if err != nil {
		return &cli.Hinted{Err: err, Hint: "that is the " + ch.String() + "; check --config / --store / $MD_STORE"}
	}
	defer st.Close()
	if view == status.ViewTable && tty && log.Verbose == 0 {
		// a person reading a table wants to know whose MDs these are
		fmt.Fprintf(env.Stderr, "md-status: %s\n", ch)
	}
	r := &status.Reader{Store: st}
	if s := c.String("now"); s != "" {
		now, err := status.ParseTime(s)
		if err != nil {
			return cli.Usagef("--now: %v", err)
		}
		r.Now = func() time.Time { return now }
	}

	if c.String("serve") == "" && !cli.IsEtcd(ch.Dir) && env.Var(cli.NoMemoEnv) == "" {
		// the whole-store views remember each MD's part (memo-status-*.bin)
		r.MemoDir, r.MemoContext = ch.Dir, cli.MemoContext()
		r.MemoReport = func(s string) { log.Infof("%s", s) }
	}

	if addr := c.String("serve"); addr != "" {
		if views > 0 || name != "" {
			return cli.Usagef("--serve serves every view; it takes no other view flag or NAME")
		}
		h := &status.Handler{Reader: r, Opts: opts}
		return status.Serve(ctx, addr, h, func(a net.Addr) {
			fmt.Fprintf(env.Stderr, "md-status: serving the store %s read-only on http://%s/\n", st, a)
		})
	}

	var names []string
	if name != "" {
		mdName, err := r.Find(ctx, name)
		if err != nil {
			if errors.Is(err, status.ErrUnknown) {
				return &cli.Hinted{Err: fmt.Errorf("%w (store %s)", err, st), Hint: "md-status with no NAME lists the managed domains"}
			}
			return err
		}
		names = []string{mdName}
	}
	err = r.Render(ctx, env.Stdout, view, names, opts)
	var bad *status.BadStoreError
	if errors.As(err, &bad) {
		log.Errorf("%v", err)
		return cli.ErrRecordsFailed
	}
	return err
}
