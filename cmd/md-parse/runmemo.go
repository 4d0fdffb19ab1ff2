package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/registry"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/tomlconf"
	ucli "github.com/urfave/cli/v2"
)

// runMemo is md-parse's memo of a whole run (memo.Run): when nothing the
// configuration read depended on changed and the store's memo still
// answers every MD, the output is written without reading the
// configuration (at 100,000 MDs, reading md.toml and building the records
// is most of md-parse's cost, and all records held at once most of its
// memory).
type runMemo struct {
	dir    string // the cache directory
	key    memo.RunKey
	inputs *memo.Inputs
}

// newRunMemo is the run memo of this invocation, nil when it has none:
// --check and --dry-run (nothing synced), MDTOOLS_NO_MEMO, no cache
// directory.
func newRunMemo(c *ucli.Context, env cli.Env, path string) *runMemo {
	if c.Bool("check") || c.Bool("dry-run") || env.Var(cli.NoMemoEnv) != "" {
		return nil
	}
	dir := memo.CacheDir(env.Var, os.Geteuid())
	if dir == "" {
		return nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil
	}
	// What the run was asked: the config path, flags, working directory
	// (relative paths) and the variables the choice of store reads.
	parts := []string{"md-parse", path, cwd, strconv.Itoa(os.Geteuid())}
	flags := c.FlagNames()
	sort.Strings(flags)
	for _, f := range flags {
		if !outputNeutral[f] {
			parts = append(parts, "--"+f, fmt.Sprint(c.Value(f)))
		}
	}
	for _, v := range []string{"MD_STORE", "XDG_STATE_HOME", "HOME"} {
		parts = append(parts, v+"="+env.Var(v))
	}
	return &runMemo{dir: dir, key: memo.RunKeyOf(parts...), inputs: memo.NewInputs()}
}

// outputNeutral are the flags that change what a run logs or how long it
// waits, not what it reads or writes: runs with and without them share a
// run memo.
var outputNeutral = map[string]bool{"verbose": true, "v": true, "wait": true}

// replay writes the remembered output when the run memo still holds; it
// reports whether it did. Nothing is printed before that is known, so a
// run that goes on to read the configuration says what it would have
// said without a run memo.
func (rm *runMemo) replay(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger, path string) (bool, error) {
	run, err := memo.LoadRun(rm.dir, rm.key, cli.MemoContext())
	if err != nil {
		log.Infof("run memo: %v", err)
	}
	if run == nil {
		return false, nil
	}
	if changed := memo.Changed(run.Inputs, os.LookupEnv); changed != "" {
		if changed == path && othersUnchanged(run.Inputs, path) {
			log.Debugf("run memo: %s changed since the last run: reading its changed [[domain]] tables", changed)
			return rm.replayTables(ctx, c, env, log, path, run)
		}
		log.Debugf("run memo: %s changed since the last run: reading the configuration", changed)
		return false, nil
	}
	pc := &md.ParsedConfig{StoreDir: run.StoreDir, DefaultStoreDir: run.DefaultStoreDir}
	sc := cli.StoreChoice{Flag: c.String("store"), Env: env.Var("MD_STORE"), ConfigFile: path, Config: pc,
		Etcd: cli.EtcdOptionsFor(c, env)}
	if ch, err := cli.ChooseStore(sc); err != nil || ch.Dir != run.Store || cli.IsEtcd(ch.Dir) {
		return false, nil
	}
	lines, ok := replayLines(ctx, c, run)
	if !ok {
		log.Debugf("run memo: the store's memo no longer answers every MD: reading the configuration")
		return false, nil
	}
	cw := cli.NewConfigWarner(log)
	for w := range run.AllWarnings() {
		cw.Warn(md.ConfigError{File: w.File, Line: w.Line, Msg: w.Msg})
	}
	cw.Done()
	if _, err := cli.Choose(log, sc); err != nil { // as a full run says it
		return false, err
	}
	log.Infof("%d of %d records answered from the memo (%s; %s unchanged, not read)", len(lines), len(lines), memo.FileName("parse"), path)
	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	var b []byte
	for i, l := range lines {
		b = l.Append(b[:0], runSources(run, i))
		b = append(b, '\n')
		out.Write(b)
	}
	return true, out.Flush()
}

// othersUnchanged says whether no input of a run but path changed.
func othersUnchanged(inputs []memo.Input, path string) bool {
	return memo.Changed(otherInputs(inputs, path), os.LookupEnv) == ""
}

// otherInputs are a run's inputs but path.
func otherInputs(inputs []memo.Input, path string) []memo.Input {
	var out []memo.Input
	for _, in := range inputs {
		if in.Env || in.Name != path {
			out = append(out, in)
		}
	}
	return out
}

// runSources are the sources of the run's i-th record, as saved.
func runSources(run *memo.Run, i int) []*md.Source {
	if i >= len(run.Sources) {
		return nil
	}
	out := make([]*md.Source, len(run.Sources[i]))
	for j, src := range run.Sources[i] {
		out[j] = &md.Source{File: src.File, Line: src.Line}
	}
	return out
}

// replayLines asks the store's memo for every MD of the run.
func replayLines(ctx context.Context, c *ucli.Context, run *memo.Run) ([]md.SourceLine, bool) {
	st, err := store.Open(ctx, run.Store)
	if err != nil {
		return nil, false
	}
	defer st.Close()
	m, err := registry.OpenMemo(run.Store, cli.MemoContext())
	if err != nil {
		return nil, false
	}
	defer m.Close()
	cli.MemoHeld(m)
	counts := make([]int, len(run.Names))
	for i := range counts {
		if i < len(run.Sources) {
			counts[i] = len(run.Sources[i])
		}
	}
	lines, ok, err := registry.ReplayRun(ctx, st, m, run.Names, run.Keys, counts, run.Root, registry.Options{Wait: c.Duration("wait")})
	return lines, ok && err == nil
}

// save keeps what this run depended on and answered, when every record's
// answer is in the store's memo and no input changed while it was read.
func (rm *runMemo) save(log *cli.Logger, path string, pc *md.ParsedConfig, ch cli.ChosenStore, res *registry.Result, root uint64) {
	if res == nil || res.Keys == nil || len(res.Keys) != len(pc.Records) {
		return
	}
	run := &memo.Run{StoreDir: pc.StoreDir, DefaultStoreDir: pc.DefaultStoreDir, Store: ch.Dir, Keys: res.Keys, Root: root}
	var tables map[int]tomlconf.Table
	if cli.IsTOML(path) {
		// read again, before the inputs are checked: a table's sum is
		// only kept for the text that made its record
		if tables = tablesByLine(path); tables == nil {
			return
		}
	}
	for _, r := range pc.Records {
		run.Names = append(run.Names, r.Name)
		run.Sources = append(run.Sources, runSourcesOf(r.Sources()))
		if tables != nil {
			if r.Source == nil {
				return
			}
			t, ok := tables[r.Source.Line]
			if !ok {
				return
			}
			run.Tables = append(run.Tables, runTable(t, tomlconf.Reach(r), r.Domains[1:]))
		}
	}
	for _, w := range pc.Warnings {
		run.Warnings = append(run.Warnings, memo.Warning{File: w.File, Line: w.Line, Msg: w.Msg})
	}
	rm.saveRun(log, rm.inputs, run)
}

// saveRun writes run with the inputs in, when they are settled and none
// changed since it was read.
func (rm *runMemo) saveRun(log *cli.Logger, in *memo.Inputs, run *memo.Run) {
	inputs, settled := in.List()
	if !settled || memo.Changed(inputs, os.LookupEnv) != "" {
		return
	}
	run.Key, run.Inputs = rm.key, inputs
	if err := memo.SaveRun(rm.dir, run, cli.MemoContext()); err != nil {
		log.Infof("run memo not saved: %v", err)
	}
}

// runSourcesOf is a record's sources as a run keeps them.
func runSourcesOf(srcs []*md.Source) []memo.Source {
	var out []memo.Source
	for _, src := range srcs {
		out = append(out, memo.Source{File: src.File, Line: src.Line})
	}
	return out
}
