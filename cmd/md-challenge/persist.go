package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/persist"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

const persistDescription = `Prints the dns-persist-01 TXT records (draft-ietf-acme-dns-persist) of MDs,
one JSON line per DNS name: "name" (_validation-persist.<domain>.), "value",
"zone" (a zone-file line). With --zone only the zone-file lines. The MDs come
from the store by NAME, else as records on stdin (md-parse output). The MD's
ACME account must exist (run md-order once). persist-check looks the records up
(--dns-server, else the system resolver) and exits 1 unless all match.

EXAMPLES:
   md-challenge persist-record example.org
   md-parse md.toml | md-challenge persist-record --zone
   md-challenge persist-check --dns-server 127.0.0.1:53 example.org`

func persistTool(check bool) cli.Tool {
	name, usage := "persist-record", "print the dns-persist-01 TXT records of MDs"
	if check {
		name, usage = "persist-check", "check that the published dns-persist-01 records match the account"
	}
	return cli.Tool{
		Name: name, Usage: usage, Description: persistDescription, ArgsUsage: "[NAME]...",
		Flags: []ucli.Flag{
			storeFlag(),
			&ucli.StringFlag{Name: "issuer", Usage: "issuer domain name (default: the CA directory's first caaIdentities)"},
			&ucli.TimestampFlag{Name: "persist-until", Layout: time.RFC3339, Usage: "add persistUntil (RFC 3339 time)"},
			&ucli.BoolFlag{Name: "zone", Usage: "print zone-file lines instead of JSON"},
			&ucli.StringFlag{Name: "dns-server", Usage: "persist-check: look up through `HOST:PORT` (default: system resolver)"},
			&ucli.StringSliceFlag{Name: "ca-file", Usage: "PEM roots to trust for the CA directory"},
		},
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return runPersist(ctx, c, env, log, check)
		},
	}
}

func runPersist(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger, check bool) error {
	var recs []*md.Record
	if c.NArg() == 0 {
		var err error
		if recs, err = cli.ReadRecords(env.Stdin, "stdin", true); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	st, err := cli.OpenStore(ctx, c, env, log, recs)
	if err != nil {
		return err
	}
	for _, name := range c.Args().Slice() {
		if err := md.ValidateDomain(name); err != nil {
			return cli.Usagef("%s: %v", name, err)
		}
		var m md.MD
		if err := st.LoadJSON(ctx, store.GroupDomains, name, store.FileMD, &m); err != nil {
			return cli.Usagef("MD %s: %v", name, err)
		}
		recs = append(recs, &md.Record{MD: m})
	}
	o := persist.Options{Issuer: c.String("issuer"), CAFiles: c.StringSlice("ca-file"), DNSServer: c.String("dns-server"), UserAgent: "mdtools md-challenge"}
	if t := c.Timestamp("persist-until"); t != nil {
		o.Until = *t
	}
	failed := false
	enc := json.NewEncoder(env.Stdout)
	for _, rec := range recs {
		entries, err := persist.Entries(ctx, st, rec, o)
		if err != nil {
			log.Errorf("%v", err)
			failed = true
			continue
		}
		if check && !persist.Check(ctx, entries, o) {
			failed = true
		}
		for _, e := range entries {
			if c.Bool("zone") {
				fmt.Fprintln(env.Stdout, e.Zone)
			} else if err := enc.Encode(e); err != nil {
				return err
			}
			if e.Problem != "" {
				log.Errorf("%s: %s; publish: %s", e.Domain, e.Problem, e.Zone)
			}
		}
	}
	if failed {
		return errors.New("some records are missing or do not match (see above)")
	}
	return nil
}
