package apacheconf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
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
	fi, err := os.Stat(abs)
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

// parseRaw splits a file into logical lines (continuations joined,
// comments and blank lines dropped) and nests sections.
func (r *reader) parseRaw(file string, data []byte) []*rawLine {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		line := 1 + bytes.Count(data[:i], []byte{'\n'})
		r.errorf(file, line, "binary data (NUL byte) in configuration file")
		return nil
	}
	type open struct {
		l    *rawLine
		name string
	}
	var top []*rawLine
	var stack []open
	add := func(l *rawLine) {
		if len(stack) > 0 {
			p := stack[len(stack)-1].l
			p.children = append(p.children, l)
		} else {
			top = append(top, l)
		}
	}
	lineNo := 0
	var cont strings.Builder
	contStart := 0
	for len(data) > 0 {
		var phys []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			phys, data = data[:i], data[i+1:]
		} else {
			phys, data = data, nil
		}
		lineNo++
		phys = bytes.TrimRight(phys, "\r")
		if cont.Len()+len(phys) > MaxLineLength {
			r.errorf(file, lineNo, "line too long (more than %d bytes)", MaxLineLength)
			cont.Reset()
			continue
		}
		if cont.Len() == 0 {
			contStart = lineNo
		}
		if len(phys) > 0 && phys[len(phys)-1] == '\\' {
			cont.Write(phys[:len(phys)-1])
			continue
		}
		cont.Write(phys)
		text := strings.TrimFunc(cont.String(), func(c rune) bool { return c < 0x80 && isSpace(byte(c)) })
		cont.Reset()
		if text == "" || text[0] == '#' {
			continue
		}
		r.lines++
		if r.lines > MaxLines {
			r.errorf(file, contStart, "more than %d configuration lines, giving up", MaxLines)
			r.aborted = true
			return top
		}
		l := &rawLine{text: text, line: contStart}
		if strings.HasPrefix(text, "</") {
			name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text[2:]), ">"))
			if len(stack) == 0 {
				r.errorf(file, contStart, "</%s> without matching <%s> section", name, name)
				continue
			}
			o := stack[len(stack)-1]
			if !strings.EqualFold(name, o.name) {
				r.errorf(file, contStart, "Expected </%s> but saw </%s>", o.name, name)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		if text[0] == '<' {
			w, _ := getWordConf(text)
			name := strings.TrimSuffix(w[1:], ">")
			l.section = strings.ToLower(name)
			add(l)
			stack = append(stack, open{l, name})
			if len(stack) > 64 {
				r.errorf(file, contStart, "sections nested too deeply")
				return top
			}
			continue
		}
		add(l)
	}
	if cont.Len() > 0 {
		r.errorf(file, contStart, "continuation line at end of file")
	}
	for i := len(stack) - 1; i >= 0; i-- {
		r.errorf(file, stack[i].l.line, "<%s> was not closed.", stack[i].name)
	}
	return top
}

func (r *reader) lookupVar(name string) (string, bool) {
	if v, ok := r.vars[name]; ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// exec runs the read-time directives of a file (Include, Define,
// UnDefine, ServerRoot, LoadModule, <If*>) and returns the rest as nodes.
func (r *reader) exec(file string, lines []*rawLine) []*node {
	var out []*node
	for _, l := range lines {
		if r.aborted {
			return out
		}
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
			return out
		}
		if r.expanded += max(0, len(text)-len(l.text)); r.expanded > MaxExpansion {
			r.errorf(file, l.line, "${VAR} expansions add more than %s in all, giving up", fsread.Size(MaxExpansion))
			r.aborted = true
			return out
		}
		name, args := getWordConf(text)
		if l.section != "" {
			closed := strings.HasSuffix(name, ">")
			name = strings.TrimSuffix(strings.TrimPrefix(name, "<"), ">")
			if closed {
				args = ""
			} else {
				end := strings.LastIndexByte(args, '>')
				if end < 0 {
					r.errorf(file, l.line, "<%s> directive missing closing '>'", name)
					continue
				}
				args = strings.TrimSpace(args[:end])
			}
		}
		key := strings.ToLower(name)
		switch {
		case l.section == "ifmodule" || l.section == "ifdefine" || l.section == "iffile" || l.section == "ifversion" ||
			l.section == "ifdirective" || l.section == "ifsection":
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
			switch key {
			case "include", "includeoptional":
				words := splitArgs(args)
				if len(words) != 1 {
					r.errorf(file, l.line, "%s takes one argument, Name(s) of the config file(s) to be included", name)
					continue
				}
				out = append(out, r.include(words[0], key == "includeoptional", file, l.line)...)
				continue
			case "define":
				words := splitArgs(args)
				if len(words) < 1 || len(words) > 2 {
					r.errorf(file, l.line, "Define takes 1-2 arguments, Define a variable, optionally to a value.  Same as passing -D to the command line.")
					continue
				}
				if strings.Contains(words[0], ":") {
					r.errorf(file, l.line, "Variable name must not contain ':'")
					continue
				}
				r.defines[words[0]] = true
				if len(words) == 2 {
					r.vars[words[0]] = words[1]
				}
				continue
			case "undefine":
				words := splitArgs(args)
				if len(words) != 1 {
					r.errorf(file, l.line, "UnDefine takes one argument, Undefine the existence of a variable. Undo a Define.")
					continue
				}
				delete(r.defines, words[0])
				delete(r.vars, words[0])
				continue
			case "serverroot":
				words := splitArgs(args)
				if len(words) != 1 {
					r.errorf(file, l.line, "ServerRoot takes one argument, Common directory of server-related files (logs, confs, etc.)")
					continue
				}
				if !r.rootSet {
					// httpd merges a relative ServerRoot with its working directory
					root, _ := filepath.Abs(words[0])
					if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
						r.errorf(file, l.line, "ServerRoot must be a valid directory")
						continue
					}
					r.root = root
				}
				continue
			case "loadmodule":
				words := splitArgs(args)
				if len(words) != 2 {
					r.errorf(file, l.line, "LoadModule takes two arguments, a module name and the name of a shared object file to load it from")
					continue
				}
				r.modules[moduleKey(words[0])] = true
			case "use":
				out = append(out, r.use(args, file, l.line)...)
				continue
			case "undefmacro":
				delete(r.macros, strings.ToLower(strings.TrimSpace(args)))
				continue
			}
		case l.section == "macro":
			words := splitArgs(args)
			if len(words) == 0 {
				r.errorf(file, l.line, "macro definition: name not specified")
				continue
			}
			if r.macros == nil {
				r.macros = map[string]*macro{}
			}
			r.macros[strings.ToLower(words[0])] = &macro{name: words[0], params: words[1:], body: l.children, file: file, line: l.line}
			continue
		}
		n := &node{name: name, key: key, args: args, file: file, line: l.line, section: l.section != ""}
		if n.section {
			n.children = r.exec(file, l.children)
		}
		out = append(out, n)
	}
	return out
}

// condition evaluates <IfModule>, <IfDefine>, <IfFile>, <IfVersion>.
func (r *reader) condition(section, args string) (bool, string) {
	words := splitArgs(args)
	switch section {
	case "ifmodule", "ifdefine", "iffile", "ifdirective", "ifsection":
		if len(words) != 1 {
			return false, fmt.Sprintf("<%s> takes one argument", sectionTitle(section))
		}
		arg, neg := strings.CutPrefix(words[0], "!")
		if arg == "" {
			return false, fmt.Sprintf("<%s> requires an argument", sectionTitle(section))
		}
		var v bool
		switch section {
		case "ifmodule":
			v = r.modules[moduleKey(arg)]
		case "ifdefine":
			v = r.defines[arg]
		case "iffile":
			_, err := os.Stat(r.relative(arg))
			v = err == nil
		case "ifdirective":
			v = knownDirective(arg)
		case "ifsection":
			v = knownSection(arg)
		}
		return v != neg, ""
	case "ifversion":
		return r.ifVersion(words)
	}
	return false, ""
}

func sectionTitle(s string) string {
	switch s {
	case "ifmodule":
		return "IfModule"
	case "ifdefine":
		return "IfDefine"
	case "iffile":
		return "IfFile"
	case "ifdirective":
		return "IfDirective"
	case "ifsection":
		return "IfSection"
	}
	return s
}

// ifVersion evaluates <IfVersion [[!]op] version> as mod_version.
func (r *reader) ifVersion(words []string) (bool, string) {
	var op, ver string
	switch len(words) {
	case 1:
		op, ver = "=", words[0]
		if strings.HasPrefix(ver, "/") {
			op = "~"
		}
	case 2:
		op, ver = words[0], words[1]
	default:
		return false, "<IfVersion> takes 1-2 arguments"
	}
	op, neg := strings.CutPrefix(op, "!")
	if op == "" {
		op = "="
	}
	cur := r.version
	var res bool
	switch op {
	case "~", "=~":
		re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(ver, "/"), "/"))
		if err != nil {
			return false, fmt.Sprintf("<IfVersion> has an invalid regular expression: %v", err)
		}
		res = re.MatchString(fmt.Sprintf("%d.%d.%d", cur[0], cur[1], cur[2]))
	case "=", "==", "<", "<=", ">", ">=":
		if strings.HasPrefix(ver, "/") {
			re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(ver, "/"), "/"))
			if err != nil || (op != "=" && op != "==") {
				return false, "<IfVersion> regular expressions need the = or ~ operator"
			}
			res = re.MatchString(fmt.Sprintf("%d.%d.%d", cur[0], cur[1], cur[2]))
			break
		}
		want := parseVersion(ver)
		if want == nil {
			return false, "Version appears to be invalid. It must have the format major[.minor[.patch]] where major, minor and patch are numbers."
		}
		c := compareVersion(cur, want, 3) // missing parts are 0, as mod_version
		switch op {
		case "=", "==":
			res = c == 0
		case "<":
			res = c < 0
		case "<=":
			res = c <= 0
		case ">":
			res = c > 0
		case ">=":
			res = c >= 0
		}
	default:
		return false, fmt.Sprintf("<IfVersion> has an unknown operator %q", op)
	}
	return res != neg, ""
}

func parseVersion(s string) []int {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return nil
	}
	v := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil
		}
		v[i] = n
	}
	return v
}

// compareVersion compares the first n components.
func compareVersion(a, b []int, n int) int {
	for i := 0; i < n && i < 3; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// include runs Include / IncludeOptional as httpd: files, directories
// (all entries, sorted, recursively) and wildcards in any path component.
func (r *reader) include(pattern string, optional bool, file string, line int) []*node {
	p := r.relative(pattern)
	if !hasWildcard(p) {
		fi, err := os.Stat(p)
		if err != nil {
			if optional && os.IsNotExist(err) {
				return nil
			}
			r.errorf(file, line, "could not open configuration file %s: %v", p, unwrapPath(err))
			return nil
		}
		if fi.IsDir() {
			return r.readDir(p, file, line, 0)
		}
		return r.readFile(p, file, line, 0)
	}
	// Split into the fixed prefix and the components with wildcards.
	comps := strings.Split(filepath.ToSlash(p), "/")
	base := "/"
	i := 1
	for ; i < len(comps) && !hasWildcard(comps[i]); i++ {
		base = filepath.Join(base, comps[i])
	}
	var out []*node
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		if !optional {
			r.errorf(file, line, "could not open config directory %s: %v", base, "no such directory")
		}
		return nil
	}
	matched := r.globWalk(base, comps[i:], optional, pattern, file, line, &out)
	if !matched && !optional {
		r.errorf(file, line, "No matches for the wildcard '%s' in '%s', failing", comps[len(comps)-1], base)
	}
	return out
}

// globWalk matches rest (path components) below dir and reads what matches.
func (r *reader) globWalk(dir string, rest []string, optional bool, pattern, file string, line int, out *[]*node) bool {
	if r.aborted {
		return false
	}
	if len(rest) == 0 {
		return false
	}
	if !hasWildcard(rest[0]) {
		next := filepath.Join(dir, rest[0])
		if len(rest) == 1 {
			fi, err := os.Stat(next)
			if err != nil {
				return false
			}
			if fi.IsDir() {
				*out = append(*out, r.readDir(next, file, line, 0)...)
			} else {
				*out = append(*out, r.readFile(next, file, line, 0)...)
			}
			return true
		}
		return r.globWalk(next, rest[1:], optional, pattern, file, line, out)
	}
	if r.jail != "" && dir != r.jail && !strings.HasPrefix(dir, r.jail+"/") {
		r.errorf(file, line, "%s is outside %s", dir, r.jail)
		return false
	}
	r.listed++
	if r.listed > MaxFiles {
		r.errorf(file, line, "wildcard %s: more than %d directories searched, giving up", pattern, MaxFiles)
		r.aborted = true
		return false
	}
	names, err := readDirNames(dir)
	if err != nil {
		if !optional {
			r.errorf(file, line, "could not open config directory %s: %v", dir, unwrapPath(err))
		}
		return false
	}
	if len(names) > MaxFiles {
		r.errorf(file, line, "directory %s has more than %d entries", dir, MaxFiles)
		r.aborted = true
		return false
	}
	matched := false
	for _, n := range names {
		if !fnmatch(rest[0], n, true) {
			continue
		}
		full := filepath.Join(dir, n)
		fi, err := os.Stat(full)
		if err != nil {
			r.errorf(file, line, "could not open %s: %v", full, unwrapPath(err))
			continue
		}
		if len(rest) > 1 {
			if !fi.IsDir() {
				continue
			}
			if r.globWalk(full, rest[1:], optional, pattern, file, line, out) {
				matched = true
			}
			continue
		}
		matched = true
		if fi.IsDir() {
			*out = append(*out, r.readDir(full, file, line, 0)...)
		} else {
			*out = append(*out, r.readFile(full, file, line, 0)...)
		}
	}
	return matched
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(MaxFiles + 1)
	if err != nil && len(names) == 0 {
		if err.Error() == "EOF" {
			return nil, nil
		}
		return nil, err
	}
	sort.Strings(names) // httpd sorts with strcmp
	return names, nil
}

// readDir includes every entry of a directory, sorted, recursively.
func (r *reader) readDir(dir, file string, line, _ int) []*node {
	if _, ok := r.enter(dir, file, line); !ok {
		return nil
	}
	defer r.leave()
	names, err := readDirNames(dir)
	if err != nil {
		r.errorf(file, line, "could not open config directory %s: %v", dir, unwrapPath(err))
		return nil
	}
	if len(names) > MaxFiles {
		r.errorf(file, line, "directory %s has more than %d entries", dir, MaxFiles)
		r.aborted = true
		return nil
	}
	var out []*node
	for _, n := range names {
		if r.aborted {
			break
		}
		full := filepath.Join(dir, n)
		fi, err := os.Stat(full)
		if err != nil {
			r.errorf(file, line, "could not open %s: %v", full, unwrapPath(err))
			continue
		}
		if fi.IsDir() {
			out = append(out, r.readDir(full, file, line, 0)...)
		} else {
			out = append(out, r.readFile(full, file, line, 0)...)
		}
	}
	return out
}

// macro is a mod_macro <Macro name params...> definition.
type macro struct {
	name   string
	params []string
	body   []*rawLine
	file   string
	line   int
}

// use expands "Use name values..." as mod_macro: the body with every
// parameter replaced by its value, read in place.
func (r *reader) use(args, file string, line int) []*node {
	words := splitArgs(args)
	if len(words) == 0 {
		r.errorf(file, line, "no macro defined before Use")
		return nil
	}
	m := r.macros[strings.ToLower(words[0])]
	if m == nil {
		r.errorf(file, line, "macro '%s' undefined", words[0])
		return nil
	}
	if len(words)-1 != len(m.params) {
		r.errorf(file, line, "macro '%s' (defined on line %d of \"%s\") used with %d arguments instead of %d",
			m.name, m.line, m.file, len(words)-1, len(m.params))
		return nil
	}
	for _, u := range r.using {
		if u == strings.ToLower(m.name) {
			r.errorf(file, line, "recursive use of macro '%s' is invalid", m.name)
			return nil
		}
	}
	if len(r.using) >= MaxIncludeDepth {
		r.errorf(file, line, "macros nested too deeply")
		return nil
	}
	r.using = append(r.using, strings.ToLower(m.name))
	defer func() { r.using = r.using[:len(r.using)-1] }()
	body := substitute(m.body, m.params, words[1:], &r.macroLines)
	if r.macroLines > MaxMacroLines {
		r.errorf(file, line, "macros expand to more than %d lines, giving up", MaxMacroLines)
		r.aborted = true
		return nil
	}
	return r.exec(m.file, body)
}

// substitute copies lines with each parameter replaced by its value
// (longest parameter first where one is a prefix of another).
func substitute(lines []*rawLine, params, values []string, count *int) []*rawLine {
	out := make([]*rawLine, 0, len(lines))
	for _, l := range lines {
		*count++
		c := &rawLine{line: l.line, section: l.section, text: replaceParams(l.text, params, values)}
		c.children = substitute(l.children, params, values, count)
		out = append(out, c)
	}
	return out
}

func replaceParams(s string, params, values []string) string {
	if len(params) == 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		best := -1
		for j, p := range params {
			if p != "" && strings.HasPrefix(s[i:], p) && (best < 0 || len(p) > len(params[best])) {
				best = j
			}
		}
		if best < 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(values[best])
		i += len(params[best])
		if b.Len() > MaxLineLength {
			return s // refuse to grow a line without bound
		}
	}
	return b.String()
}
