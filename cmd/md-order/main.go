// Command md-order: obtain or renew certificates from an ACME CA into the store's staging area.
package main

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// An order makes short-lived garbage (JWS, HTTP/2 frames, JSON):
		// at 200 instead of 100, 1,000 P-256 orders cost 4.5-4.7 ms of
		// CPU each instead of 4.9-5.1 (bench-order, same hour), for 4 MB
		// more peak RSS; 100,000 MDs without memo 58-63 MB instead of 46.
		// lib/cli lowers it again for a run holding many memo answers
		// (100,000 MDs, first run after an upgrade: 148-150 MB peak, not
		// 221; 136-141 MB at 100).
		debug.SetGCPercent(200)
	}
	cli.Main(tool())
}

const description = `For every MD record on stdin (from md-parse) md-order decides whether new
certificates are due and, when they are, obtains them from the MD's ACME CA
into the store's staging area (staging/<md>/), where md-install picks them up.
Every record is passed on to stdout with an "order" section saying what was
done ("none", "ordered", "resumed", "staged", "dry-run", "vetoed", "failed",
"backoff", "locked") and why; a failure also sets the record's "error" (the
ACME problem type, detail and subproblems). Nothing due means no network
traffic (ARI answers are kept in the store until their Retry-After).

An MD stays failed, and md-order exits 1, for as long as it is not fine:
while a failed attempt waits for its retry (action "backoff": the last
error again, with "errors", "failing-since" and "next-run", and no request
to the CA), and while it has no valid certificate that md-order would
renew (e.g. MDRenewMode manual).

The challenge types an MD can use are known before anything is ordered:
--http-listen and --tls-listen count (md-order answers there itself), and
an MD with no usable type (or a wildcard without dns-01, or a listener
port taken by another program) fails without an order at the CA. When
another md-order run over the same store already listens on that port,
the MD is skipped as "locked" instead.

Renewal is due when a key spec has no certificate, the certificate does not
cover every domain, differs in must-staple or does not fit its private key,
the renew window (renew-window, default 33% of the certificate's lifetime)
has started, or the CA's ARI window says so. Renew mode manual and static
certificate files are left alone. Each MD orders with its own account (its
ca.account). A failed attempt is retried after MDRetryDelay, doubling up to
24 h, and not before the CA's Retry-After (capped at 24 h).

md-order never touches domains/ (the live certificates). A run killed at any
point is resumed by the next one; a set already staged is not ordered again.
Two runs never work on the same MD: an MD locked by another run is skipped
(action "locked") and the exit status is 3 unless a record failed.

"md-order revoke NAME --reason keyCompromise" revokes an MD's certificates
(see md-order revoke --help); the next run renews such an MD at once.
"md-order accounts" lists the store's accounts and rolls over keys, updates
contacts or deactivates them (see md-order accounts --help). When an MD's
contacts change, md-order updates its account instead of registering anew.

Examples:
  md-parse /etc/apache2/apache2.conf | md-order | md-install
  md-parse md.toml | md-order --dry-run | jq -c '{name, order}'
  md-order --force -j 4 records.jsonl > ordered.jsonl
  md-parse md.toml | md-order --http-listen :80   # no web server on port 80
  md-order --ca-file /etc/ssl/my-acme-root.pem < records.jsonl

` + cli.StoreRule

// syncEvery bounds what a power loss during a long run can cost (the
// orders of the last syncEvery, redone by the next run).
const syncEvery = 10 * time.Second

func tool() cli.Tool {
	flags := append(cli.StoreFlags(),
		&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "order new certificates even if none is due (ignores renew window, backoff and a staged set)"},
		&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "say what would be done; no network, no store changes"},
		&ucli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 8, Usage: "work on at most `N` MDs at once"},
		&ucli.IntFlag{Name: "ari-jobs", Value: 32, Usage: "wait for at most `N` renewalInfo (ARI) answers at once; an MD waiting for one leaves its --jobs place to another"},
		&ucli.StringFlag{Name: "http-listen", Usage: "answer http-01 challenges on `ADDR` (e.g. :80) while ordering"},
		&ucli.StringFlag{Name: "tls-listen", Usage: "answer tls-alpn-01 challenges on `ADDR` (e.g. :443) while ordering"},
		&ucli.StringSliceFlag{Name: "ca-file", Usage: "also trust the PEM roots in `FILE` (a regular file, at most 4 MiB) for the ACME HTTPS connection (repeatable)"},
		&ucli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up on one MD after `DURATION`"},
		&ucli.StringFlag{Name: "account-key", Value: "RSA", Usage: "key `TYPE` of ACME accounts this run registers: RSA (2048 bits; what mod_md reads) or P-256 / P-384 (ECDSA: signing each request costs a fraction; mod_md cannot use such an account). Stored accounts keep their key"},
	)
	return cli.Tool{
		Name:        "md-order",
		Usage:       "obtain or renew certificates from an ACME CA into the store's staging area",
		ArgsUsage:   "[RECORDS.jsonl ...] | revoke [OPTIONS] NAME | accounts [list|show|rollover|update-contacts|deactivate]",
		Description: description,
		Flags:       flags,
		Action:      action,
		Verbs:       []cli.Tool{revokeTool(), accountsTool()},
	}
}

func action(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	if c.Int("jobs") < 1 {
		return cli.Usagef("--jobs must be at least 1")
	}
	if c.Int("ari-jobs") < 1 {
		return cli.Usagef("--ari-jobs must be at least 1")
	}
	accountKey, err := acmeflow.ParseAccountKey(c.String("account-key"))
	if err != nil {
		return cli.Usagef("--account-key: %v", err)
	}
	stage := &cli.Stage{
		LockedHint: "another md-order run is working on some MDs; they were skipped, run again later",
		Start: func(_ context.Context, st *store.Store, _ []*md.Record) (*cli.Work, error) {
			// What an order writes is redone by the next run if lost, so
			// its syncs are batched: one every syncEvery and one at the end.
			st, syncer := st.Batched(syncEvery)
			mgr, err := challenge.New(st, challenge.Options{HTTPListen: c.String("http-listen"), TLSListen: c.String("tls-listen"), Log: log})
			if err != nil {
				return nil, err
			}
			r := &acmeflow.Runner{
				Store: st, Challenges: mgr, Events: notifier(log, st.String()), Log: log,
				CAFiles: c.StringSlice("ca-file"), Force: c.Bool("force"), DryRun: c.Bool("dry-run"),
				LockWait: c.Duration("wait"), Timeout: c.Duration("timeout"), AccountKey: accountKey,
				UserAgent: "mdtools-md-order/" + cli.Version,
				Jobs:      c.Int("jobs"), ARIJobs: c.Int("ari-jobs"),
			}
			each := func(ctx context.Context, rec *md.Record) error {
				err := r.Process(ctx, rec)
				if serr := syncer.Maybe(); serr != nil {
					log.Warnf("%v", serr)
				}
				return err
			}
			closeAll := func() {
				r.Done()
				if err := syncer.Sync(); err != nil {
					log.Errorf("%v (what this run staged may not survive a power loss; the next run checks it)", err)
				}
				mgr.Close()
			}
			return &cli.Work{Jobs: r.Workers(), Each: each, Until: r.MemoUntil, Close: closeAll}, nil
		},
	}
	// --force and --dry-run answer differently from a cron run: no memo
	stage.Memo = &cli.MemoSpec{Stage: "order", Paths: acmeflow.MemoPaths, Off: c.Bool("force") || c.Bool("dry-run")}
	if c.Bool("dry-run") {
		stage.Open = cli.OpenDryRun
	}
	return stage.Run(ctx, c, env, log)
}

// notifier raises mod_md's events with each record's own settings.
func notifier(log *cli.Logger, storeDir string) func(*md.Record) acmeflow.Notifier {
	return func(rec *md.Record) acmeflow.Notifier {
		s := rec.Settings
		if s == nil {
			s = &md.Settings{}
		}
		n := event.New(s)
		n.Log = log
		n.Env = event.PathEnv(storeDir, &rec.MD)
		return n
	}
}
