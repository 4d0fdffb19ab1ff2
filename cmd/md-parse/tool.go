package main

import (
	"context"
	"os"

	"github.com/mdtools/mdtools/lib/apacheconf"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/registry"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

const description = `md-parse [OPTIONS] CONFIG | md-parse import [OPTIONS] certbot|lego|acme.sh DIR

Reads an Apache httpd configuration (as httpd and mod_md read it: Include,
Define, <IfModule>, <Macro>/Use, <VirtualHost>, every MD* directive) or an md.toml file, and
prints one JSON record per managed domain (mod_md's md.json fields plus
"source", "settings" and "vhosts"), sorted by name. By default the MD
definitions are also synced into the store as mod_md does at startup:
domains/<md>/md.json is written when it changed, ca.account and other stored
values are kept, and renamed MDs are moved instead of ordered again.

A CONFIG ending in .toml is read as md.toml (see md.toml(5)); anything else as
Apache httpd configuration. Configuration errors are printed as
"file:line: message", all of them, and md-parse exits 2. Every file read
must be a regular file within a size limit (a FIFO or /dev/zero is refused),
and ${VAR} expansion is capped (64 KiB a line); see md-parse(1).
Warnings go to stderr; one that says the same about many MDs (e.g. no way
to answer a challenge) is shown for three of them and counted for the
others, which -v lists.

A run whose configuration files, Include directories and ${VAR}s are all
unchanged since an earlier run with the same arguments prints that run's
records without reading the configuration, when the store's memo still
answers every MD (-v says "unchanged, not read"; md-parse(1) FILES).
After an edit to an md.toml, only its changed [[domain]] tables are read
(-v says "N of M [[domain]] tables as before, the others read").

Store: MDStoreDir / store-dir from the config, else --store, else $MD_STORE,
else, for an Apache config, the store mod_md itself uses ("md" under
ServerRoot, e.g. /etc/apache2/md on Debian, so replacing mod_md needs no
copy), else /var/lib/mdtools (root) or $XDG_STATE_HOME/mdtools. The chosen
store goes into every record ("store"), and md-order, md-install, md-staple
and md-challenge use that store; -v says which one and why.

Examples:
   # what would mod_md manage on this Debian host?
   md-parse --dry-run /etc/apache2/apache2.conf | jq -r .name

   # validate only (exit 0 = fine, 2 = errors listed on stderr)
   md-parse --check -D SSL /etc/apache2/apache2.conf

   # the whole renewal line, from cron
   md-parse /etc/apache2/apache2.conf | md-order | md-install | md-staple

   # a host without Apache (the records carry the store to md-order)
   md-parse --store /var/lib/mdtools /etc/mdtools/md.toml | md-order

   # which vhosts serve each MD, and can the CA reach this host?
   md-parse -n httpd.conf | jq -c '{name, reachable: .settings.reachable, vhosts: [.vhosts[].addresses[]]}'

   # Debian: set the variables apache2.conf uses, then read it
   . /etc/apache2/envvars && md-parse -n /etc/apache2/apache2.conf

   # switch from certbot, lego or acme.sh (see md-parse import --help)
   md-parse import --toml /etc/mdtools/md.toml certbot /etc/letsencrypt`

func tool() cli.Tool {
	flags := []ucli.Flag{
		&ucli.StringSliceFlag{Name: "define", Aliases: []string{"D"}, Usage: "define `NAME` for <IfDefine> (as httpd -D; NAME=VALUE also sets ${NAME}); repeatable"},
		&ucli.StringSliceFlag{Name: "module", Usage: "treat module `NAME` (ssl, mod_ssl.c, ssl_module) as loaded for <IfModule>; repeatable; default: md, ssl, watchdog (plus LoadModule lines)"},
		&ucli.StringFlag{Name: "httpd-version", Value: apacheconf.DefaultVersion, Usage: "httpd `VERSION` that <IfVersion> compares against"},
		&ucli.StringFlag{Name: "server-root", Usage: "ServerRoot `DIR` (overrides the config's ServerRoot; default: the config file's directory)"},
		&ucli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print the records, write nothing to the store"},
		&ucli.BoolFlag{Name: "check", Usage: "validate only: no records, no store; exit 0 if fine, 2 on errors"},
	}
	flags = append(flags, cli.StoreFlags()...)
	return cli.Tool{
		Name:        "md-parse",
		Usage:       "read Apache httpd or TOML config and print one MD record per managed domain",
		ArgsUsage:   "CONFIG",
		Description: description,
		Flags:       flags,
		Action:      parse,
		Verbs:       []cli.Tool{importTool()},
	}
}

func parse(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	if c.NArg() != 1 {
		return cli.Usagef("need exactly one CONFIG file (httpd.conf or md.toml), got %d arguments", c.NArg())
	}
	path := c.Args().First()
	rm := newRunMemo(c, env, path)
	if rm != nil {
		if done, err := rm.replay(ctx, c, env, log, path); done || err != nil {
			return err
		}
	}
	opts := apacheconf.Options{
		Defines:    c.StringSlice("define"),
		Version:    c.String("httpd-version"),
		ServerRoot: c.String("server-root"),
	}
	if rm != nil {
		opts.Inputs = rm.inputs
	}
	if c.IsSet("module") {
		opts.Modules = c.StringSlice("module")
	}
	pc, err := cli.LoadConfig(path, opts, env.Stderr)
	if pc != nil {
		cli.WarnConfig(log, pc.Warnings)
	}
	if err != nil {
		return err
	}
	recs := pc.Records
	cli.RecordsHeld(len(recs))
	if c.Bool("check") {
		log.Infof("%s: %d managed domain(s), configuration OK", path, len(recs))
		return nil
	}
	ch, err := cli.Choose(log, cli.StoreChoice{Flag: c.String("store"), Env: env.Var("MD_STORE"), ConfigFile: path, Config: pc,
		Etcd: cli.EtcdOptionsFor(c, env)})
	if err != nil {
		return err
	}
	dir := ch.Dir
	for _, r := range recs {
		r.Store = dir // every later stage uses this store
	}
	dry := c.Bool("dry-run")
	var res *registry.Result
	if !dry || cli.Initialized(ctx, ch) { // a dry run never creates a store
		var root uint64
		if res, root, err = syncStore(ctx, c, log, ch, recs, dry); err != nil {
			return err
		}
		if rm != nil && res != nil && res.Keys != nil {
			rm.save(log, path, pc, ch, res, root)
		}
	}
	var lines map[*md.Record]md.SourceLine
	if res != nil {
		lines = res.Lines
	}
	return cli.WriteRecords(env.Stdout, recs, lines)
}

// syncStore opens the store and syncs the records into it (registry.Sync);
// the result has the output lines the memo had for some of them. root is
// the fingerprint of the store root files the sync read, when the memo
// was used and they are settled (for the run memo; res.Keys is nil
// otherwise).
func syncStore(ctx context.Context, c *ucli.Context, log *cli.Logger, ch cli.ChosenStore, recs []*md.Record, dry bool) (*registry.Result, uint64, error) {
	st, err := openStore(ctx, ch)
	if err != nil {
		return nil, 0, err
	}
	defer st.Close()
	var m *memo.Memo
	if !dry && !cli.IsEtcd(ch.Dir) && os.Getenv(cli.NoMemoEnv) == "" {
		if m, err = registry.OpenMemo(ch.Dir, cli.MemoContext()); err != nil {
			log.Infof("memo: %v", err)
		}
		defer m.Close()
	}
	res, root, err := syncWith(ctx, c, log, st, m, recs, dry, nil)
	if res != nil && res.Replayed > 0 {
		log.Infof("%d of %d records answered from the memo (%s)", res.Replayed, len(recs), memo.FileName("parse"))
	}
	return res, root, err
}

// syncWith is syncStore on an open store and memo (m nil: none); others
// are configured MDs not among recs (registry.Options.Others).
func syncWith(ctx context.Context, c *ucli.Context, log *cli.Logger, st *store.Store, m *memo.Memo, recs []*md.Record, dry bool, others []string) (*registry.Result, uint64, error) {
	opts := registry.Options{DryRun: dry, Wait: c.Duration("wait"), Memo: m, Others: others}
	res, err := registry.Sync(ctx, st, recs, opts)
	if err != nil || res == nil {
		return nil, 0, err
	}
	var root uint64
	if m != nil {
		if err := m.Save(); err != nil {
			log.Infof("memo not saved: %v", err)
			res.Keys = nil
		}
		var settled bool
		if root, settled = registry.RootFingerprint(m); !settled {
			res.Keys = nil
		}
	}
	for _, w := range res.Warnings {
		log.Warnf("%s", w)
	}
	for old, nw := range res.Renamed {
		log.Infof("MD %s was renamed to %s", old, nw)
	}
	for _, n := range res.Written {
		log.Debugf("wrote domains/%s/md.json", n)
	}
	return res, root, nil
}

// openStore opens the store.
func openStore(ctx context.Context, ch cli.ChosenStore) (*store.Store, error) {
	st, err := cli.Open(ctx, ch)
	if err != nil {
		return nil, &cli.Hinted{Err: err, Hint: "that is the " + ch.String() + "; check it and that this user may write there"}
	}
	return st, nil
}
