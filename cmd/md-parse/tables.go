package main

import (
	"context"
	"os"
	"sort"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/registry"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/tomlconf"
	ucli "github.com/urfave/cli/v2"
)

// An md.toml that changed since the run memo was saved is mostly the
// same: at a hosting platform a cron run finds one [[domain]] table
// added or edited among 100,000. replayTables answers the tables whose
// text (and the rest of the file) the run memo saw from the store's memo
// without reading them, and reads and syncs only the others. Over
// 100,000 MDs reading them all was 3-4 s and 320 MB.

// partial is an md.toml run answered partly from the run memo.
type partial struct {
	run    *memo.Run
	tabs   *tomlconf.Tables
	in     *memo.Inputs
	hits   []int // tables answered: index into tabs.List ...
	from   []int // ... and into the run's MDs
	lines  []md.SourceLine
	pc     *md.ParsedConfig // the other tables
	st     *store.Store
	m      *memo.Memo
	warned []md.ConfigError
}

// replayTables is the run of an md.toml that changed since run was saved,
// reading only its changed tables. done is false when it cannot answer
// (then it has printed and written nothing): the run goes on as a full
// one, which says what this one would.
func (rm *runMemo) replayTables(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger, path string, run *memo.Run) (done bool, err error) {
	if !cli.IsTOML(path) || len(run.Tables) != len(run.Names) || len(run.Names) == 0 {
		return false, nil
	}
	p := &partial{run: run, in: memo.NewInputs()}
	p.in.Path(path)
	// what the unchanged tables read (an EAB file) is unchanged: it is
	// what this run depends on too
	for _, in := range otherInputs(run.Inputs, path) {
		if in.Env {
			v, ok := os.LookupEnv(in.Name)
			p.in.Env(in.Name, v, ok)
		} else {
			p.in.Path(in.Name)
		}
	}
	data, err := fsread.ReadFile(path, tomlconf.MaxFileSize)
	if err != nil {
		return false, nil
	}
	var ok bool
	if p.tabs, ok = tomlconf.Split(path, data); !ok {
		log.Debugf("run memo: %s has tables other than [global] and [[domain]]: reading all of it", path)
		return false, nil
	}
	if !p.match() {
		log.Debugf("run memo: no [[domain]] table of %s as before: reading all of it", path)
		return false, nil
	}
	sc := cli.StoreChoice{Flag: c.String("store"), Env: env.Var("MD_STORE"), ConfigFile: path,
		Config: &md.ParsedConfig{StoreDir: run.StoreDir}, Etcd: cli.EtcdOptionsFor(c, env)}
	if ch, err := cli.ChooseStore(sc); err != nil || ch.Dir != run.Store || cli.IsEtcd(ch.Dir) {
		return false, nil
	}
	if p.st, err = store.Open(ctx, run.Store); err != nil {
		return false, nil
	}
	defer p.st.Close()
	if p.m, err = registry.OpenMemo(run.Store, cli.MemoContext()); err != nil {
		return false, nil
	}
	defer p.m.Close()
	cli.MemoHeld(p.m)
	if !p.recall(ctx, c) {
		log.Debugf("run memo: the store's memo answers no unchanged [[domain]] table: reading all of %s", path)
		return false, nil
	}
	if !p.parseRest(log) {
		return false, nil
	}
	return true, rm.finish(ctx, c, env, log, path, p, sc)
}

// match finds the tables the run saw (before the store and its memo are
// opened: a [global] edit changes every table); it says whether there
// are any.
func (p *partial) match() bool {
	bySum := make(map[tomlconf.TableSum]int, len(p.run.Tables))
	for j, t := range p.run.Tables {
		bySum[t.Sum] = j
	}
	for i, t := range p.tabs.List {
		j, ok := bySum[t.Sum]
		if !ok {
			continue
		}
		delete(bySum, t.Sum) // a copy of a table is read (and refused there)
		p.hits, p.from = append(p.hits, i), append(p.from, j)
	}
	return len(p.hits) > 0
}

// recall asks the store's memo for the MDs of the tables match found,
// and keeps those it answers; it says whether there are any.
func (p *partial) recall(ctx context.Context, c *ucli.Context) bool {
	names := make([]string, len(p.from))
	keys := make([]memo.Key, len(p.from))
	counts := make([]int, len(p.from))
	for k, j := range p.from {
		names[k], keys[k], counts[k] = p.run.Names[j], p.run.Keys[j], 1
	}
	lines, err := registry.Recall(ctx, p.st, p.m, names, keys, counts, p.run.Root, registry.Options{Wait: c.Duration("wait")})
	if err != nil || lines == nil {
		return false
	}
	// keep only the answered ones; the others are read
	n := 0
	for k := range p.hits {
		if lines[k].Line != nil {
			p.hits[n], p.from[n], lines[n] = p.hits[k], p.from[k], lines[k]
			n++
		}
	}
	p.hits, p.from, p.lines = p.hits[:n], p.from[:n], lines[:n]
	return n > 0
}

// parseRest reads the tables not answered and puts the warnings of all
// together; it says whether that matches the run (else a full run says
// what is wrong, or reads what changed across tables).
func (p *partial) parseRest(log *cli.Logger) bool {
	known := make(map[int]tomlconf.Known, len(p.hits))
	var was md.Reachable
	for _, t := range p.run.Tables {
		was = was.Or(reachOf(t.Reach))
	}
	for k, i := range p.hits {
		j := p.from[k]
		names := append([]string{p.run.Names[j]}, p.run.Tables[j].Names...)
		known[i] = tomlconf.Known{Names: names, Reach: reachOf(p.run.Tables[j].Reach)}
	}
	pc, reach, err := p.tabs.ParseWithout(known, p.in)
	if err != nil {
		log.Debugf("run memo: reading the changed tables: %v: reading all of it", err)
		return false
	}
	if reach != was || pc.StoreDir != p.run.StoreDir {
		log.Debugf("run memo: the changed tables change what every MD's settings say: reading all of it")
		return false
	}
	cli.AddRecordWarnings(p.tabs.File(), pc)
	p.pc = pc
	p.warned = append(pc.Warnings, p.keptWarnings()...)
	sort.SliceStable(p.warned, func(a, b int) bool { return p.warned[a].Line < p.warned[b].Line })
	return true
}

// keptWarnings are the run's warnings about the answered tables, moved
// to where those tables are now.
func (p *partial) keptWarnings() []md.ConfigError {
	type span struct{ from, lines, now int }
	var spans []span
	for k, i := range p.hits {
		j := p.from[k]
		if len(p.run.Sources[j]) == 0 {
			continue
		}
		spans = append(spans, span{p.run.Sources[j][0].Line, p.run.Tables[j].Lines, p.tabs.List[i].Line})
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].from < spans[b].from })
	var out []md.ConfigError
	for w := range p.run.AllWarnings() {
		if w.File != p.tabs.File() {
			continue
		}
		k := sort.Search(len(spans), func(k int) bool { return spans[k].from > w.Line }) - 1
		if k < 0 || w.Line >= spans[k].from+spans[k].lines {
			continue // about a table read again, or [global]: said again
		}
		out = append(out, md.ConfigError{File: w.File, Line: w.Line - spans[k].from + spans[k].now, Msg: w.Msg})
	}
	return out
}

// finish syncs the tables read, prints every record in name order and
// saves the run.
func (rm *runMemo) finish(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger, path string, p *partial, sc cli.StoreChoice) error {
	cli.WarnConfig(log, p.warned)
	ch, err := cli.Choose(log, sc) // as a full run says it
	if err != nil {
		return err
	}
	recs := p.pc.Records
	cli.RecordsHeld(len(recs))
	others := make([]string, len(p.hits))
	for k, j := range p.from {
		others[k] = p.run.Names[j]
	}
	res := &registry.Result{Keys: []memo.Key{}}
	root := p.run.Root
	if len(recs) > 0 {
		for _, r := range recs {
			r.Store = ch.Dir
		}
		if res, root, err = syncWith(ctx, c, log, p.st, p.m, recs, false, others); err != nil {
			return err
		}
	}
	log.Infof("%d of %d records answered from the memo (%s; %d of %d [[domain]] tables as before, the others read)",
		len(p.hits)+res.Replayed, len(p.hits)+len(recs), memo.FileName("parse"), len(p.hits), len(p.tabs.List))
	all, lines := p.records(recs, res.Lines)
	if err := cli.WriteRecords(env.Stdout, all, lines); err != nil {
		return err
	}
	if res.Keys != nil {
		rm.saveRun(log, p.in, p.newRun(all, recs, res.Keys, root))
	}
	return nil
}

// records are the records read and, for each answered table, one that
// carries only its name and source, with their lines, in name order.
func (p *partial) records(recs []*md.Record, known map[*md.Record]md.SourceLine) ([]*md.Record, map[*md.Record]md.SourceLine) {
	lines := make(map[*md.Record]md.SourceLine, len(p.hits)+len(known))
	for r, l := range known {
		lines[r] = l
	}
	all := make([]*md.Record, 0, len(p.hits)+len(recs))
	for k, i := range p.hits {
		r := &md.Record{MD: md.MD{Name: p.run.Names[p.from[k]]},
			Source: &md.Source{File: p.tabs.File(), Line: p.tabs.List[i].Line}}
		lines[r] = p.lines[k]
		all = append(all, r)
	}
	all = append(all, recs...)
	sort.SliceStable(all, func(a, b int) bool { return all[a].Name < all[b].Name })
	return all, lines
}

// newRun is the run memo of this run: all in output order, recs the
// records read with their keys.
func (p *partial) newRun(all, recs []*md.Record, keys []memo.Key, root uint64) *memo.Run {
	run := &memo.Run{StoreDir: p.run.StoreDir, DefaultStoreDir: p.run.DefaultStoreDir, Store: p.run.Store, Root: root}
	type known struct {
		key   memo.Key
		table memo.RunTable
	}
	by := make(map[string]known, len(all))
	for k, i := range p.hits {
		j := p.from[k]
		t := p.run.Tables[j]
		t.Sum, t.Lines = p.tabs.List[i].Sum, p.tabs.List[i].Lines
		by[p.run.Names[j]] = known{p.run.Keys[j], t}
	}
	tables := tablesOf(p.tabs)
	for n, r := range recs {
		by[r.Name] = known{keys[n], runTable(tables[r.Source.Line], tomlconf.Reach(r), r.Domains[1:])}
	}
	for _, r := range all {
		run.Names = append(run.Names, r.Name)
		run.Sources = append(run.Sources, runSourcesOf(r.Sources()))
		run.Keys = append(run.Keys, by[r.Name].key)
		run.Tables = append(run.Tables, by[r.Name].table)
	}
	for _, w := range p.warned {
		run.Warnings = append(run.Warnings, memo.Warning{File: w.File, Line: w.Line, Msg: w.Msg})
	}
	return run
}

// tablesByLine reads md.toml again and returns its tables by header line
// (nil when it cannot be cut, see tomlconf.Split).
func tablesByLine(path string) map[int]tomlconf.Table {
	data, err := fsread.ReadFile(path, tomlconf.MaxFileSize)
	if err != nil {
		return nil
	}
	tabs, ok := tomlconf.Split(path, data)
	if !ok {
		return nil
	}
	return tablesOf(tabs)
}

func tablesOf(tabs *tomlconf.Tables) map[int]tomlconf.Table {
	out := make(map[int]tomlconf.Table, len(tabs.List))
	for _, t := range tabs.List {
		out[t.Line] = t
	}
	return out
}

// runTable is a table as the run memo keeps it.
func runTable(t tomlconf.Table, reach md.Reachable, more []string) memo.RunTable {
	rt := memo.RunTable{Sum: t.Sum, Lines: t.Lines, Names: more}
	if reach.HTTP {
		rt.Reach |= 1
	}
	if reach.HTTPS {
		rt.Reach |= 2
	}
	return rt
}

func reachOf(bits uint8) md.Reachable {
	return md.Reachable{HTTP: bits&1 != 0, HTTPS: bits&2 != 0}
}
