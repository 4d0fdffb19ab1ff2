package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/migrate"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// storeVerb is "md-parse import store SOURCE": a whole store copied.
const storeVerb = "store"

const importStoreDescription = `md-parse import --store DEST store SOURCE copies a whole store, a directory
or etcd://host:port,.../prefix, into another one (the destination is --store,
else $MD_STORE): a store moves from files to etcd or back without asking any
CA for anything. Accounts, domains, staging, archive, job logs, OCSP
responses, challenges, tmp and the root files (md_store.json with its store
key, httpd.json, ARI and revocation notes) are copied file by file, under
the store lock and every MD's lock of both stores. Private keys keep their
protection: 0600 in a directory, sealed with the node key
(--store-key-file, $MD_STORE_KEY_FILE) in etcd. Lock files and modification
times are not copied. Every file is read back from the destination and
compared; the counts per group go to stdout as JSON (--report FILE too).

A destination that holds anything (but the md_store.json a command creates
when it first opens a store, which the source's replaces) is refused unless
--merge: then files it
lacks are copied, files it has with the same content are left, and files it
has with other content are conflicts, left as they are (exit 1) unless
--overwrite. A destination with its own md_store.json keeps its store key;
the source's encrypted keys are encrypted anew for it. An interrupted copy
is finished by running it again with --merge.

Exit status (store): 0 copied and verified; 1 conflicts left or
verification failed; 2 usage error, SOURCE not a store, destination not
empty; 3 a lock is held by another run.

   md-parse import --store etcd://10.0.0.1:2379/mdtools store /var/lib/mdtools
   md-parse import --store /var/lib/mdtools.back store etcd://10.0.0.1:2379/mdtools`

// runImportStore is "md-parse import store SOURCE".
func runImportStore(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	if c.NArg() > 2 && strings.HasPrefix(c.Args().Get(2), "-") {
		return cli.Usagef("options go before the arguments: md-parse import %s store %s", strings.Join(c.Args().Slice()[2:], " "), c.Args().Get(1))
	}
	if c.NArg() != 2 {
		return cli.Usagef("import store needs the SOURCE store (a directory or etcd:// URL), got %d arguments", c.NArg()-1)
	}
	for _, f := range []string{"toml", "apache", "server"} {
		if c.String(f) != "" {
			return cli.Usagef("--%s does not apply to import store", f)
		}
	}
	if c.Bool("overwrite") && !c.Bool("merge") {
		return cli.Usagef("--overwrite needs --merge")
	}
	etcd := cli.EtcdOptionsFor(c, env)
	dst, err := cli.Choose(log, cli.StoreChoice{Flag: c.String("store"), Env: env.Var("MD_STORE"), Etcd: etcd})
	if err != nil {
		return err
	}
	src, err := sourceStore(ctx, c.Args().Get(1), etcd)
	if err != nil {
		return err
	}
	if src.Dir == dst.Dir {
		return cli.Usagef("the source and the destination are the same store %s", src.Dir)
	}
	o := migrate.Options{Merge: c.Bool("merge"), Overwrite: c.Bool("overwrite"), DryRun: c.Bool("dry-run"), Wait: c.Duration("wait")}
	sb, closeSrc, err := cli.OpenBackend(src)
	if err != nil {
		return err
	}
	defer closeSrc()
	db, closeDst, err := openDestination(dst, o.DryRun)
	if err != nil {
		return err
	}
	defer closeDst()
	if name(sb) == name(db) {
		return cli.Usagef("the source and the destination are the same store %s", name(sb))
	}
	rep, err := migrate.Copy(ctx, sb, db, src.Dir, dst.Dir, o)
	if errors.Is(err, migrate.ErrNotEmpty) || errors.Is(err, migrate.ErrNotStore) {
		return &cli.UsageError{Err: err}
	}
	if rep == nil {
		return err
	}
	if werr := writeStoreReport(c, env, rep); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	log.Infof("%d files (%d bytes) in %s: %d copied, %d unchanged, %d conflicts; %d verified in %s",
		rep.Total.Files, rep.Total.Bytes, rep.Source, rep.Total.Copied, rep.Total.Unchanged, rep.Total.Conflicts, rep.Verified, rep.Destination)
	for _, f := range rep.Conflicts {
		if o.Overwrite {
			log.Infof("%s: replaced with the source's", f)
		} else {
			log.Warnf("%s: differs in the destination; left as it is (--overwrite replaces it)", f)
		}
	}
	if len(rep.Conflicts) > 0 && !o.Overwrite {
		return cli.ErrRecordsFailed
	}
	return nil
}

// sourceStore names the source: an etcd URL, or an existing store
// directory (its md_store.json must be there; nothing is created in a
// directory that is not a store).
func sourceStore(ctx context.Context, arg string, etcd cli.EtcdOptions) (cli.ChosenStore, error) {
	ch := cli.ChosenStore{Dir: arg, From: "the command line", Etcd: etcd}
	if cli.IsEtcd(arg) {
		if _, _, err := cli.ParseEtcdURL(arg); err != nil {
			return ch, &cli.UsageError{Err: err}
		}
		return ch, nil
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return ch, err
	}
	ch.Dir = abs
	if !store.Initialized(ctx, abs) {
		return ch, &cli.UsageError{Err: fmt.Errorf("%s: %w", abs, migrate.ErrNotStore)}
	}
	return ch, nil
}

// openDestination opens the destination; a dry run into a directory that
// does not exist yet reads an empty stand-in instead of creating it.
func openDestination(ch cli.ChosenStore, dryRun bool) (store.Backend, func(), error) {
	if dryRun && !cli.IsEtcd(ch.Dir) {
		if _, err := os.Stat(ch.Dir); errors.Is(err, os.ErrNotExist) {
			empty, err := os.MkdirTemp("", "mdtools-dry-run-")
			if err != nil {
				return nil, nil, err
			}
			b, closeB, err := cli.OpenBackend(cli.ChosenStore{Dir: empty})
			if err != nil {
				os.RemoveAll(empty)
				return nil, nil, err
			}
			return b, func() { closeB(); os.RemoveAll(empty) }, nil
		}
	}
	return cli.OpenBackend(ch)
}

// name is a backend's normalised name (etcd://host:port/prefix with the
// default prefix filled in, or the store directory), to tell two spellings
// of one store apart from two stores.
func name(b store.Backend) string {
	if d, ok := b.(store.LocalDir); ok {
		return d.Dir()
	}
	if s, ok := b.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}

// writeStoreReport prints the report on stdout and into --report FILE.
func writeStoreReport(c *ucli.Context, env cli.Env, rep *migrate.Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if f := c.String("report"); f != "" {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			return err
		}
	}
	_, err = env.Stdout.Write(data)
	return err
}
