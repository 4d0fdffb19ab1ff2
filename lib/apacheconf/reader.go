package apacheconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
)

// Limits that keep a hostile or broken config from exhausting the machine.
// They are far above what real configurations use.
const (
	MaxFileSize     = 32 << 20 // one config file
	MaxTotalSize    = 64 << 20 // all files together
	MaxLines        = 2000000  // logical lines in all files (bounds memory)
	MaxMacroLines   = 200000   // lines produced by mod_macro's Use, in all
	MaxExpansion    = 64 << 20 // bytes added by ${VAR} expansion, in all lines
	MaxLineLength   = 64 << 10 // one logical line, continuations included
	MaxIncludeDepth = 32       // nested Include levels
	MaxFiles        = 20000    // files read in one load
	MaxErrors       = 1000     // problems reported before giving up
)

// node is one directive after reading: Include, Define, <If*> and ${VAR}
// are resolved; sections keep their children.
type node struct {
	name     string // as written; sections without the '<'
	key      string // lower-cased name
	args     string // argument text, variables resolved; sections without the closing '>'
	file     string
	line     int
	section  bool
	children []*node
}

// rawLine is a logical line of one file before execution.
type rawLine struct {
	text     string
	line     int
	section  string // lower-cased section name for "<Name ...>" lines
	children []*rawLine
}

// builtinModules are compiled into Debian's apache2 (apache2 -l).
var builtinModules = []string{"core", "so", "watchdog", "http", "log_config", "logio", "version", "unixd"}

// defaultModules are the modules mod_md needs, assumed loaded unless
// Options.Modules says otherwise.
var defaultModules = []string{"md", "ssl", "watchdog"}

type reader struct {
	lower     map[string]string // directive names as written -> lower-cased (lowerName)
	in        *memo.Inputs      // what the read depended on (nil: not recorded)
	root      string
	rootSet   bool // ServerRoot forced by Options
	defines   map[string]bool
	vars      map[string]string
	modules   map[string]bool
	version   []int
	errs      md.ConfigErrors
	warns     []md.ConfigError
	files     int
	total     int64
	chain     []string // real paths of the files and directories being read
	undefined map[string]bool
	aborted   bool

	settingsCache *md.Settings
	jail          string // tests: no file outside this directory is read
	listed        int    // directories listed for wildcards
	lines         int    // logical lines read
	macros        map[string]*macro
	using         []string // macros being expanded
	macroLines    int      // lines produced by Use
	expanded      int      // bytes added by ${VAR}, bounded by MaxExpansion
}

func newReader(opts Options, configPath string) *reader {
	r := &reader{
		in:        opts.Inputs,
		defines:   map[string]bool{},
		vars:      map[string]string{},
		modules:   map[string]bool{},
		undefined: map[string]bool{},
	}
	for _, d := range opts.Defines {
		if name, val, ok := strings.Cut(d, "="); ok {
			r.defines[name] = true
			r.vars[name] = val
		} else {
			r.defines[d] = true
		}
	}
	for _, m := range builtinModules {
		r.modules[m] = true
	}
	mods := opts.Modules
	if mods == nil {
		mods = defaultModules
	}
	for _, m := range mods {
		r.modules[moduleKey(m)] = true
	}
	v := opts.Version
	if v == "" {
		v = DefaultVersion
	}
	r.version = parseVersion(v)
	if opts.ServerRoot != "" {
		r.root, _ = filepath.Abs(opts.ServerRoot)
		r.rootSet = true
	} else {
		r.root, _ = filepath.Abs(filepath.Dir(configPath))
	}
	return r
}

// DefaultVersion is the httpd version <IfVersion> compares against.
const DefaultVersion = "2.4.66"

func (r *reader) errorf(file string, line int, format string, args ...any) {
	if len(r.errs) >= MaxErrors {
		if !r.aborted {
			r.errs.Add(file, line, "too many errors, giving up")
			r.aborted = true
		}
		return
	}
	r.errs.Add(file, line, format, args...)
}

func (r *reader) warnf(file string, line int, format string, args ...any) {
	if len(r.warns) < MaxErrors {
		r.warns = append(r.warns, md.ConfigError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

// relative resolves p against ServerRoot as ap_server_root_relative.
func (r *reader) relative(p string) string {
	if strings.Contains(p, "://") { // a store URL (MDStoreDir etcd://...)
		return p
	}
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(r.root, p)
}

// moduleKey normalises "mod_ssl.c", "ssl_module" and "ssl" to "ssl".
func moduleKey(m string) string {
	m = strings.ToLower(strings.TrimSpace(m))
	if s, ok := strings.CutSuffix(m, ".c"); ok {
		return strings.TrimPrefix(s, "mod_")
	}
	if s, ok := strings.CutSuffix(m, "_module"); ok {
		return s
	}
	return strings.TrimPrefix(m, "mod_")
}

// readTop reads the main config file.
func (r *reader) readTop(path string) []*node {
	abs, err := filepath.Abs(path)
	if err != nil {
		r.errorf(path, 0, "%v", err)
		return nil
	}
	fi, err := r.stat(abs)
	if err != nil {
		r.errorf(path, 0, "could not open configuration file: %v", unwrapPath(err))
		return nil
	}
	if fi.IsDir() {
		return r.readDir(abs, path, 0, 0)
	}
	return r.readFile(abs, path, 0, 0)
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// enter pushes a real path on the include chain; it fails on a cycle or
// when nesting is too deep.
func (r *reader) enter(path, fromFile string, fromLine int) (string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		r.errorf(fromFile, fromLine, "could not open %s: %v", path, unwrapPath(err))
		return "", false
	}
	if r.jail != "" && real != r.jail && !strings.HasPrefix(real, r.jail+"/") {
		r.errorf(fromFile, fromLine, "%s is outside %s", path, r.jail)
		return "", false
	}
	for _, c := range r.chain {
		if c == real {
			r.errorf(fromFile, fromLine, "include cycle: %s includes itself", path)
			return "", false
		}
	}
	if len(r.chain) >= MaxIncludeDepth {
		r.errorf(fromFile, fromLine, "exceeded the maximum include nesting level of %d", MaxIncludeDepth)
		return "", false
	}
	r.chain = append(r.chain, real)
	return real, true
}

func (r *reader) leave() { r.chain = r.chain[:len(r.chain)-1] }

// readFile reads and executes one config file. name is how messages
// name it (the path as configured, made absolute).
func (r *reader) readFile(path, fromFile string, fromLine, _ int) []*node {
	if r.aborted {
		return nil
	}
	if _, ok := r.enter(path, fromFile, fromLine); !ok {
		return nil
	}
	defer r.leave()
	r.files++
	if r.files > MaxFiles {
		if r.files == MaxFiles+1 {
			r.errorf(fromFile, fromLine, "more than %d configuration files, giving up", MaxFiles)
		}
		r.aborted = true
		return nil
	}
	r.in.Path(path)
	data, err := fsread.ReadFile(path, MaxFileSize)
	var fe *fsread.Error
	switch {
	case errors.As(err, &fe) && (fromLine == 0 || errors.Is(err, fsread.ErrTooLarge)):
		r.errorf(path, 0, "%s", fe.Reason) // "path: larger than 32 MiB"
		return nil
	case errors.As(err, &fe): // named by an Include: say where
		r.errorf(fromFile, fromLine, "%s %s", path, fe.Reason)
		return nil
	case err != nil:
		r.errorf(fromFile, fromLine, "could not open configuration file %s: %v", path, unwrapPath(err))
		return nil
	}
	if r.total+int64(len(data)) > MaxTotalSize {
		r.errorf(path, 0, "configuration is too large (more than %s in all files)", fsread.Size(MaxTotalSize))
		r.aborted = true
		return nil
	}
	r.total += int64(len(data))
	lines := r.parseRaw(path, data)
	return r.exec(path, lines)
}

func (r *reader) lookupVar(name string) (string, bool) {
	if v, ok := r.vars[name]; ok {
		return v, true
	}
	v, ok := os.LookupEnv(name)
	r.in.Env(name, v, ok)
	return v, ok
}

// stat is os.Stat, recorded in the run's inputs.
func (r *reader) stat(path string) (os.FileInfo, error) {
	r.in.Path(path)
	return os.Stat(path)
}

// listNames is readDirNames, recorded in the run's inputs (a directory's
// identity changes when an entry is added, removed or renamed).
func (r *reader) listNames(dir string) ([]string, error) {
	r.in.Path(dir)
	return readDirNames(dir)
}

// exec runs the read-time directives of a file (Include, Define,
// UnDefine, ServerRoot, LoadModule, <If*>) and returns the rest as nodes.
func (r *reader) exec(file string, lines []*rawLine) []*node {
	var out []*node
	var slab []node // this level's nodes, allocated together
	for _, l := range lines {
		if r.aborted {
			return out
		}
		text, ok := r.expand(file, l)
		if !ok {
			return out
		}
		name, args := getWordConf(text)
		if l.section != "" {
			if name, args, ok = r.sectionArgs(file, l.line, name, args); !ok {
				continue
			}
		}
		key := r.lowerName(name)
		switch {
		case conditionSections[l.section]:
			ok, err := r.condition(l.section, args)
			if err != "" {
				r.errorf(file, l.line, "%s", err)
				continue
			}
			if ok {
				out = append(out, r.exec(file, l.children)...)
			}
			continue
		case l.section == "":
			if nodes, done := r.readTimeDirective(key, name, args, file, l.line); done {
				out = append(out, nodes...)
				continue
			}
		case l.section == "macro":
			r.defineMacro(args, file, l)
			continue
		}
		if slab == nil {
			slab = make([]node, 0, len(lines))
			out = slices.Grow(out, len(lines))
		}
		slab = append(slab, node{name: name, key: key, args: args, file: file, line: l.line, section: l.section != ""})
		n := &slab[len(slab)-1]
		if n.section {
			n.children = r.exec(file, l.children)
		}
		out = append(out, n)
	}
	return out
}

// conditionSections are the sections evaluated while reading.
var conditionSections = map[string]bool{
	"ifmodule": true, "ifdefine": true, "iffile": true, "ifversion": true, "ifdirective": true, "ifsection": true,
}

// expand resolves ${VAR} in a line within the expansion bounds; on
// exceeding them it records the error and aborts the read.
func (r *reader) expand(file string, l *rawLine) (string, bool) {
	text, ok := resolveVars(l.text, r.lookupVar, func(name string) {
		if !r.undefined[name] {
			r.undefined[name] = true
			r.warnf(file, l.line, "config variable ${%s} is not defined", name)
		}
	}, MaxLineLength)
	if !ok {
		// giving up: what follows would only report the variables
		// this line failed to define
		r.errorf(file, l.line, "line too long after ${VAR} expansion (more than %d bytes), giving up", MaxLineLength)
		r.aborted = true
		return "", false
	}
	if r.expanded += max(0, len(text)-len(l.text)); r.expanded > MaxExpansion {
		r.errorf(file, l.line, "${VAR} expansions add more than %s in all, giving up", fsread.Size(MaxExpansion))
		r.aborted = true
		return "", false
	}
	return text, true
}

// sectionArgs strips the angle brackets of a section's opening line.
func (r *reader) sectionArgs(file string, line int, name, args string) (string, string, bool) {
	closed := strings.HasSuffix(name, ">")
	name = strings.TrimSuffix(strings.TrimPrefix(name, "<"), ">")
	if closed {
		return name, "", true
	}
	end := strings.LastIndexByte(args, '>')
	if end < 0 {
		r.errorf(file, line, "<%s> directive missing closing '>'", name)
		return name, "", false
	}
	return name, strings.TrimSpace(args[:end]), true
}

// readTimeDirective runs one directive httpd handles while reading the
// config. done is false for directives that also stay in the tree
// (LoadModule) and for every other directive.
func (r *reader) readTimeDirective(key, name, args, file string, line int) (nodes []*node, done bool) {
	switch key {
	case "include", "includeoptional":
		words := splitArgs(args)
		if len(words) != 1 {
			r.errorf(file, line, "%s takes one argument, Name(s) of the config file(s) to be included", name)
			return nil, true
		}
		return r.include(words[0], key == "includeoptional", file, line), true
	case "define":
		r.define(splitArgs(args), file, line)
		return nil, true
	case "undefine":
		words := splitArgs(args)
		if len(words) != 1 {
			r.errorf(file, line, "UnDefine takes one argument, Undefine the existence of a variable. Undo a Define.")
			return nil, true
		}
		delete(r.defines, words[0])
		delete(r.vars, words[0])
		return nil, true
	case "serverroot":
		r.serverRoot(splitArgs(args), file, line)
		return nil, true
	case "loadmodule":
		words := splitArgs(args)
		if len(words) != 2 {
			r.errorf(file, line, "LoadModule takes two arguments, a module name and the name of a shared object file to load it from")
			return nil, true
		}
		r.modules[moduleKey(words[0])] = true
		return nil, false
	case "use":
		return r.use(args, file, line), true
	case "undefmacro":
		delete(r.macros, strings.ToLower(strings.TrimSpace(args)))
		return nil, true
	}
	return nil, false
}

func (r *reader) define(words []string, file string, line int) {
	if len(words) < 1 || len(words) > 2 {
		r.errorf(file, line, "Define takes 1-2 arguments, Define a variable, optionally to a value.  Same as passing -D to the command line.")
		return
	}
	if strings.Contains(words[0], ":") {
		r.errorf(file, line, "Variable name must not contain ':'")
		return
	}
	r.defines[words[0]] = true
	if len(words) == 2 {
		r.vars[words[0]] = words[1]
	}
}

func (r *reader) serverRoot(words []string, file string, line int) {
	if len(words) != 1 {
		r.errorf(file, line, "ServerRoot takes one argument, Common directory of server-related files (logs, confs, etc.)")
		return
	}
	if r.rootSet {
		return
	}
	// httpd merges a relative ServerRoot with its working directory
	root, _ := filepath.Abs(words[0])
	if fi, err := r.stat(root); err != nil || !fi.IsDir() {
		r.errorf(file, line, "ServerRoot must be a valid directory")
		return
	}
	r.root = root
}

func (r *reader) defineMacro(args, file string, l *rawLine) {
	words := splitArgs(args)
	if len(words) == 0 {
		r.errorf(file, l.line, "macro definition: name not specified")
		return
	}
	if r.macros == nil {
		r.macros = map[string]*macro{}
	}
	r.macros[strings.ToLower(words[0])] = &macro{name: words[0], params: words[1:], body: l.children, file: file, line: l.line}
}

// lowerName is strings.ToLower of a directive name, each spelling
// lower-cased once: a config repeats a few dozen names hundreds of
// thousands of times, and ToLower allocates for every one with a capital.
func (r *reader) lowerName(name string) string {
	if k, ok := r.lower[name]; ok {
		return k
	}
	k := strings.ToLower(name)
	if r.lower == nil {
		r.lower = map[string]string{}
	}
	if len(r.lower) < 4096 { // names are config text: bound what is kept
		// a clone: name may be a slice of a whole file's text
		r.lower[strings.Clone(name)] = k
	}
	return k
}
