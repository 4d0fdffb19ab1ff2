package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/importer"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

const importDescription = `Takes over the accounts and certificates of another ACME client without
asking the CA for anything: certbot's config directory (/etc/letsencrypt),
lego's --path directory (.lego) or acme.sh's home (~/.acme.sh).

Each account goes into the store's accounts/ in mod_md's format (the same
account URL and key, so no new registration); each live certificate and its
key go, byte for byte, into domains/<md>/ (pubcert.pem and privkey.pem, or
the per-key-spec names, e.g. pubcert.secp256r1.pem); certificates of one CA
with the same names become one MD with one key spec each (acme.sh's
<domain>/ and <domain>_ecc/). Then md.json is written as md-parse writes it.

Output: stdout carries the MD records exactly as md-parse prints them for the
md.toml that describes the imported MDs; --toml FILE writes that md.toml
(--apache FILE the same as MDomain sections), so that md-parse FILE takes
over from now on; without either it is printed on stderr. md-order then
finds nothing due until each certificate's renew window, and renews with
the imported account.

What cannot be carried over (pre/post/deploy hooks, DNS plugin credentials,
manual hooks, installer edits, lego's challenge choice) is listed per
certificate on stderr, with what to configure instead, as a comment in the
md.toml, and in the report (--report FILE, JSON: every account and
certificate with its status imported, unchanged, skipped or dry-run, why, and
"not-carried-over"). Nothing already in the store is replaced: an MD whose
domains/<md>/ holds other certificates is skipped; running the import again
changes nothing.

Exit status: 0 all imported (or unchanged); 1 some account or certificate
could not be imported (the others were); 2 usage error, not the client's
directory, or an output file that exists; 3 store locked.

Examples:
   # certbot: preview, then import and take over with md.toml
   md-parse import -n certbot /etc/letsencrypt
   md-parse import --toml /etc/mdtools/md.toml --report import.json certbot /etc/letsencrypt
   md-renew /etc/mdtools/md.toml

   # lego (the CA URL is needed unless it is a well-known CA)
   md-parse import --server https://acme.example.net/dir --toml md.toml lego ~/.lego

   # acme.sh, as Apache MDomain sections
   md-parse import --apache /etc/apache2/conf-available/md-import.conf acme.sh ~/.acme.sh`

func importTool() cli.Tool {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "toml", Usage: "write the md.toml for the imported MDs to `FILE` (must not exist)"},
		&ucli.StringFlag{Name: "apache", Usage: "write the imported MDs as Apache MDomain sections to `FILE` (must not exist)"},
		&ucli.StringFlag{Name: "report", Usage: "write the import report (JSON) to `FILE`"},
		&ucli.StringFlag{Name: "server", Usage: "lego: the CA directory `URL` of lego's accounts/<host>/ (lego keeps only the host)"},
		&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "read and report, write nothing"},
		&ucli.BoolFlag{Name: "merge", Usage: "store: copy into a destination that holds data (files it has with other content are left, exit 1)"},
		&ucli.BoolFlag{Name: "overwrite", Usage: "store, with --merge: replace the destination's files that differ"},
	}
	flags = append(flags, cli.StoreFlags()...)
	return cli.Tool{
		Name:        "import",
		Usage:       "take over certbot's, lego's or acme.sh's accounts and certificates, or copy a whole store (no CA request)",
		ArgsUsage:   "certbot|lego|acme.sh DIR | store SOURCE",
		Description: importDescription + "\n\n" + importStoreDescription,
		Flags:       flags,
		Action:      runImport,
	}
}

func runImport(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	if c.Args().First() == storeVerb {
		return runImportStore(ctx, c, env, log)
	}
	if c.Bool("merge") || c.Bool("overwrite") {
		return cli.Usagef("--merge and --overwrite apply to import store only")
	}
	if c.NArg() != 2 {
		return cli.Usagef("need a client (%s) and its directory, got %d arguments", strings.Join(importer.Clients, ", "), c.NArg())
	}
	ch, err := cli.Choose(log, cli.StoreChoice{Flag: c.String("store"), Env: env.Var("MD_STORE"), Etcd: cli.EtcdOptionsFor(c, env)})
	if err != nil {
		return err
	}
	o := importer.Options{Client: c.Args().Get(0), Dir: c.Args().Get(1), Server: c.String("server"), StoreDir: ch.Dir,
		TOMLPath: c.String("toml"), ApachePath: c.String("apache"), DryRun: c.Bool("dry-run"), Wait: c.Duration("wait")}
	var st *store.Store
	switch {
	case !o.DryRun:
		if st, err = openStore(ctx, ch); err != nil {
			return err
		}
	case store.Initialized(ctx, ch.Dir):
		if st, err = store.OpenReadOnly(ch.Dir); err != nil {
			return err
		}
	}
	res, err := importer.Import(ctx, st, o)
	var ie *importer.InputError
	if errors.As(err, &ie) {
		return &cli.UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	logImport(log, res)
	if o.TOMLPath == "" && o.ApachePath == "" && len(res.Records) > 0 {
		fmt.Fprintf(env.Stderr, "%s: md.toml for the imported MDs (save it and run md-parse on it, or use --toml FILE):\n%s", c.App.Name, res.TOML)
	}
	if f := c.String("report"); f != "" {
		data, err := json.MarshalIndent(res.Report, "", "  ")
		if err == nil {
			err = os.WriteFile(f, append(data, '\n'), 0o600) // hook command lines may hold tokens
		}
		if err != nil {
			return err
		}
	}
	w := cli.NewRecordWriter(env.Stdout)
	for _, r := range res.Records {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	if res.Failed {
		return cli.ErrRecordsFailed
	}
	return nil
}

// logImport says on stderr what was imported, skipped and not carried over.
func logImport(log *cli.Logger, res *importer.Result) {
	for _, w := range res.Warnings {
		log.Warnf("%s", w)
	}
	rep := res.Report
	if len(rep.Accounts) == 0 && len(rep.Certificates) == 0 {
		log.Warnf("%s: no account and no certificate found", rep.Dir)
	}
	for _, a := range rep.Accounts {
		if a.Status == importer.StatusSkipped {
			log.Warnf("account %s not imported: %s", a.Source, a.Detail)
		} else {
			log.Infof("account %s (%s): %s as accounts/%s", a.Source, a.URL, a.Status, a.ID)
		}
		for _, n := range a.NotCarried {
			log.Warnf("account %s: %s not carried over (%s); instead: %s", a.Source, n.What, n.Value, n.Instead)
		}
	}
	for _, cr := range rep.Certificates {
		if cr.Status == importer.StatusSkipped {
			log.Warnf("%s not imported: %s", cr.Source, cr.Detail)
		} else {
			log.Infof("%s: %s as MD %s (%s, until %s)", cr.Source, cr.Status, cr.MD, cr.Spec, cr.NotAfter.UTC().Format("2006-01-02"))
		}
		for _, n := range cr.NotCarried {
			v := ""
			if n.Value != "" {
				v = " (" + n.Value + ")"
			}
			log.Warnf("%s: %s%s not carried over; instead: %s", cr.Source, n.What, v, n.Instead)
		}
	}
}
