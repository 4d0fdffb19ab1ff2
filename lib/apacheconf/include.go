package apacheconf

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// include runs Include / IncludeOptional as httpd: files, directories
// (all entries, sorted, recursively) and wildcards in any path component.
func (r *reader) include(pattern string, optional bool, file string, line int) []*node {
	p := r.relative(pattern)
	if !hasWildcard(p) {
		fi, err := r.stat(p)
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
	if fi, err := r.stat(base); err != nil || !fi.IsDir() {
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
			fi, err := r.stat(next)
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
	names, err := r.listNames(dir)
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
		fi, err := r.stat(full)
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
	names, err := r.listNames(dir)
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
		fi, err := r.stat(full)
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
