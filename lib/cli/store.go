package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mdtools/mdtools/lib/apacheconf"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/tomlconf"
	ucli "github.com/urfave/cli/v2"
)

// StoreRule is the rule every command follows to find its store, as it
// appears in --help and the man pages.
const StoreRule = `Store: the one the input records name. md-parse writes the store it chose
(the config's MDStoreDir / store-dir, else --store, else $MD_STORE, else for
Apache mod_md's "md" under ServerRoot) into each record's "store". A --store
that disagrees with the records is an error (exit 2); a $MD_STORE that
disagrees is ignored (-v says so). Records naming no store: --store, else
$MD_STORE, else /var/lib/mdtools (root) or $XDG_STATE_HOME/mdtools. Runs
without records (--all, serve, md-status) find it with --config FILE as
md-parse does. -v names the store used and why; see md-store(5).`

// StoreChoice is everything that can name the store a command uses.
type StoreChoice struct {
	// Records are the input records; md-parse wrote its store into each.
	Records []*md.Record
	// Flag is --store as given on the command line ("" if not given).
	Flag string
	// Env is $MD_STORE ("" if unset).
	Env string
	// ConfigFile is the config md-parse reads or --config names, and
	// Config what was read from it (nil without a config).
	ConfigFile string
	Config     *md.ParsedConfig
	// Etcd says how to reach an etcd store, if one is chosen.
	Etcd EtcdOptions
}

// ChosenStore is the store a command uses and why.
type ChosenStore struct {
	Dir   string   // absolute directory, or an etcd://host:port,.../prefix URL
	From  string   // why this one: "the records", "--store", "MDStoreDir in FILE", ...
	Notes []string // a value that was ignored, for -v
	Warns []string // a value that was ignored though the operator asked for it
	Etcd  EtcdOptions
}

// ChooseStore is the one rule for which store a command uses, so that a
// pipeline never splits across two stores:
//
//  1. The records' "store" (md-parse chose it): every later stage of a
//     pipeline uses it. Records naming two stores are an input error; an
//     explicit --store or --config naming another store is a usage error
//     naming both; $MD_STORE naming another is only noted (it is set for
//     a whole session and must not break a pipeline whose config names
//     its store).
//  2. Without a store in the records: the config's MDStoreDir / store-dir
//     (a --store naming another one is warned about and ignored, as mod_md
//     would use the config's), else --store, else $MD_STORE, else the
//     config's own default (Apache: "md" under ServerRoot, as mod_md), else
//     store.DefaultDir.
func ChooseStore(sc StoreChoice) (ChosenStore, error) {
	fromRecs, recName, err := recordsStore(sc.Records)
	if err != nil {
		return ChosenStore{}, err
	}
	conf := configuredStore(sc)
	if fromRecs == "" {
		return conf, nil
	}
	ch := ChosenStore{Dir: fromRecs, From: "the records' \"store\", written by md-parse"}
	if sc.Flag != "" && normStore(sc.Flag) != fromRecs {
		return ChosenStore{}, &UsageError{Err: &Hinted{
			Err: fmt.Errorf("--store %s disagrees with the store the records name, %s (%s): one pipeline uses one store",
				normStore(sc.Flag), fromRecs, recName),
			Hint: "drop --store here (the records say where the store is), or give md-parse the same --store / MDStoreDir"}}
	}
	if sc.ConfigFile != "" && conf.Dir != fromRecs {
		return ChosenStore{}, &UsageError{Err: &Hinted{
			Err: fmt.Errorf("--config %s names the store %s (%s), but the records name %s (%s): one pipeline uses one store",
				sc.ConfigFile, conf.Dir, conf.From, fromRecs, recName),
			Hint: "drop --config here (the records say where the store is), or run md-parse on the same config"}}
	}
	if sc.Env != "" && normStore(sc.Env) != fromRecs {
		ch.Notes = append(ch.Notes, fmt.Sprintf("$MD_STORE=%s ignored: the records name the store %s", sc.Env, fromRecs))
	}
	return ch, nil
}

// configuredStore is the choice without records.
func configuredStore(sc StoreChoice) ChosenStore {
	var ch ChosenStore
	switch {
	case sc.Config != nil && sc.Config.StoreDir != "":
		ch.Dir, ch.From = normStore(sc.Config.StoreDir), "MDStoreDir / store-dir in "+sc.ConfigFile
		if sc.Flag != "" && normStore(sc.Flag) != ch.Dir {
			ch.Warns = append(ch.Warns, fmt.Sprintf("--store %s ignored: %s names the store %s", sc.Flag, sc.ConfigFile, ch.Dir))
		}
		return ch
	case sc.Flag != "":
		ch.Dir, ch.From = normStore(sc.Flag), "--store"
	case sc.Env != "":
		ch.Dir, ch.From = normStore(sc.Env), "$MD_STORE"
	case sc.Config != nil && sc.Config.DefaultStoreDir != "":
		ch.Dir, ch.From = normStore(sc.Config.DefaultStoreDir), "mod_md's default, md under the ServerRoot of "+sc.ConfigFile
	default:
		ch.Dir, ch.From = normStore(store.DefaultDir()), "the default"
	}
	return ch
}

// recordsStore is the one store the records name ("" if none names one).
func recordsStore(recs []*md.Record) (dir, name string, err error) {
	for _, r := range recs {
		if r.Store == "" {
			continue
		}
		if !filepath.IsAbs(r.Store) && !strings.Contains(r.Store, "://") {
			// md-parse writes absolute paths; a relative one would mean
			// another store in every working directory
			return "", "", Usagef("record %s: \"store\" must be an absolute directory, got %q", r.Name, r.Store)
		}
		d := normStore(r.Store)
		if dir == "" {
			dir, name = d, r.Name
			continue
		}
		if d != dir {
			return "", "", &UsageError{Err: &Hinted{
				Err:  fmt.Errorf("the records name two stores: %s (%s) and %s (%s)", dir, name, d, r.Name),
				Hint: "records from two md-parse runs with different stores were mixed; run one pipeline per config"}}
		}
	}
	return dir, name, nil
}

// normStore makes a directory absolute and clean, so that two spellings of
// one directory compare equal. A URL (an etcd store) is kept.
func normStore(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	if abs, err := filepath.Abs(s); err == nil {
		return abs
	}
	return filepath.Clean(s)
}

// bigConfig is the size of an md.toml of about 10,000 MDs (RecordsHeld's
// bigBatch is 20,000).
const bigConfig = 2 << 20

// LoadConfig reads an Apache httpd config or, for a name ending in .toml,
// an md.toml. Configuration errors are printed to errOut, one per line,
// and come back as a UsageError.
func LoadConfig(path string, opts apacheconf.Options, errOut io.Writer) (*md.ParsedConfig, error) {
	var pc *md.ParsedConfig
	var err error
	if IsTOML(path) {
		if fi, serr := os.Stat(path); serr == nil && fi.Size() >= bigConfig {
			holdingMuch() // the decoded file and the records it makes are all live at once
		}
		pc, err = tomlconf.LoadRecorded(path, opts.Inputs)
	} else {
		pc, err = apacheconf.Load(path, opts)
	}
	var ces md.ConfigErrors
	if errors.As(err, &ces) {
		for _, e := range ces {
			fmt.Fprintln(errOut, e.Error())
		}
		return pc, Usagef("%d configuration error(s) in %s", len(ces), path)
	}
	if err != nil {
		return pc, &UsageError{Err: err}
	}
	AddRecordWarnings(path, pc)
	return pc, nil
}

// IsTOML says whether LoadConfig reads path as md.toml.
func IsTOML(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".toml") }

// AddRecordWarnings adds the warnings about the parsed records that are
// not the parser's (IP-address profiles). In an md.toml, one file, all
// warnings are then put in line order: md-parse's run memo puts a
// partly read md.toml's warnings together in that order too.
func AddRecordWarnings(path string, pc *md.ParsedConfig) {
	pc.Warnings = append(pc.Warnings, ipProfileWarnings(pc.Records)...)
	if IsTOML(path) {
		sort.SliceStable(pc.Warnings, func(i, j int) bool { return pc.Warnings[i].Line < pc.Warnings[j].Line })
	}
}

// ipProfileWarnings warns, at parse time, of MDs md-order will refuse
// because their CA issues IP-address certificates only in a profile they
// do not select (md.MD.IPProfileProblem).
func ipProfileWarnings(recs []*md.Record) []md.ConfigError {
	var out []md.ConfigError
	for _, r := range recs {
		for _, u := range r.EffectiveCAURLs() {
			if p := r.IPProfileProblem(u); p != "" {
				ce := md.ConfigError{File: "md-parse", Msg: p}
				if r.Source != nil {
					ce.File, ce.Line = r.Source.File, r.Source.Line
				}
				out = append(out, ce)
				break
			}
		}
	}
	return out
}

// ConfigFlag is --config, for commands that can run without records
// (md-status, --all modes, md-challenge serve): the store is found in the
// config as md-parse finds it.
func ConfigFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "config", Aliases: []string{"c"},
		Usage: "find the store in `FILE` (Apache httpd config or md.toml) as md-parse does: MDStoreDir / store-dir, else --store, $MD_STORE, ServerRoot/md"}
}

// StoreDir decides which store this run uses (ChooseStore) from the
// command's --store and --config, $MD_STORE and the records, and says so
// on stderr with -v.
func StoreDir(c *ucli.Context, env Env, log *Logger, recs []*md.Record) (string, error) {
	ch, err := StoreFor(c, env, log, recs)
	return ch.Dir, err
}

// StoreFor is StoreDir with the reason, for messages.
func StoreFor(c *ucli.Context, env Env, log *Logger, recs []*md.Record) (ChosenStore, error) {
	sc, err := storeChoice(c, env)
	if err != nil {
		return ChosenStore{}, err
	}
	sc.Records = recs
	return Choose(log, sc)
}

// storeChoice is what the command line, the environment and --config say
// about the store, without records.
func storeChoice(c *ucli.Context, env Env) (StoreChoice, error) {
	sc := StoreChoice{Flag: c.String("store"), Env: env.Var("MD_STORE"), Etcd: EtcdOptionsFor(c, env)}
	if hasFlag(c, "config") {
		if f := c.String("config"); f != "" {
			pc, err := LoadConfig(f, apacheconf.Options{}, env.Stderr)
			if err != nil {
				return StoreChoice{}, err
			}
			sc.ConfigFile, sc.Config = f, pc
		}
	}
	return sc, nil
}

// Choose applies ChooseStore and says on stderr what it chose (-v) and
// what it ignored.
func Choose(log *Logger, sc StoreChoice) (ChosenStore, error) {
	ch, err := ChooseStore(sc)
	if err != nil {
		return ChosenStore{}, err
	}
	for _, w := range ch.Warns {
		log.Warnf("%s", w)
	}
	for _, n := range ch.Notes {
		log.Infof("%s", n)
	}
	log.Infof("%s", ch)
	if strings.Contains(ch.Dir, "://") {
		if !IsEtcd(ch.Dir) {
			return ChosenStore{}, Usagef("store %s: a store is a directory or etcd://host:port,.../prefix", ch.Dir)
		}
		if _, _, err := ParseEtcdURL(ch.Dir); err != nil {
			return ChosenStore{}, &UsageError{Err: err}
		}
	}
	ch.Etcd = sc.Etcd
	return ch, nil
}

// String says which store and why: "store /x (from --store)".
func (ch ChosenStore) String() string { return "store " + ch.Dir + " (from " + ch.From + ")" }

// hasFlag reports whether the command defines the flag at all.
func hasFlag(c *ucli.Context, name string) bool {
	for _, f := range c.App.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
