package apacheconf

import (
	"strings"
)

// isSpace is httpd's apr_isspace for the config syntax.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// getWordConf takes the next word from s as httpd's ap_getword_conf does:
// leading white space is skipped; a word starting with " or ' runs to the
// matching quote, inside which \<quote> and \\ are unescaped; an unquoted
// word runs to white space, with \\ unescaped. It returns the word and the
// rest of the line.
func getWordConf(s string) (word, rest string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	s = s[i:]
	if s == "" {
		return "", ""
	}
	var quote byte
	if s[0] == '"' || s[0] == '\'' {
		quote = s[0]
		j := 1
		for j < len(s) && s[j] != quote {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			j++
		}
		word = unescapeConf(s[1:min(j, len(s))], quote)
		if j < len(s) {
			j++ // closing quote
		}
		rest = s[j:]
	} else {
		j := 0
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		word = unescapeConf(s[:j], 0)
		rest = s[j:]
	}
	i = 0
	for i < len(rest) && isSpace(rest[i]) {
		i++
	}
	return word, rest[i:]
}

// unescapeConf is httpd's substring_conf: \\ and \<quote> lose their backslash.
func unescapeConf(s string, quote byte) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\\' || (quote != 0 && s[i+1] == quote)) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitArgs splits a directive's argument text into words (TAKE_ARGV).
func splitArgs(s string) []string {
	var out []string
	if n := wordsAbout(s); n > 1 {
		out = make([]string, 0, n) // one allocation, not one per doubling
	}
	for {
		var w string
		if strings.TrimLeft(s, " \t\r\n\v\f") == "" {
			return out
		}
		w, s = getWordConf(s)
		out = append(out, w)
	}
}

// wordsAbout counts the runs of non-blanks in s, which is how many words
// splitArgs finds unless quotes join or cut them: a capacity, not a count.
func wordsAbout(s string) int {
	n, in := 0, false
	for i := 0; i < len(s); i++ {
		blank := isSpace(s[i])
		if !blank && !in {
			n++
		}
		in = !blank
	}
	return n
}

// TokenizeArgv splits a command line as apr_tokenize_to_argv does, which
// is how mod_md turns MDMessageCmd, MDNotifyCmd and MDChallengeDns01 into
// argv: tokens are separated by blanks; a token starting with " or ' runs
// to the matching quote; a backslash escapes a blank or quote; finally
// every backslash that is not itself escaped is removed.
func TokenizeArgv(s string) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return out
		}
		quoted := byte(0)
		if s[i] == '"' || s[i] == '\'' {
			quoted = s[i]
			i++
		}
		start := i
		for i < len(s) {
			if s[i] == '\\' && i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t' || s[i+1] == '"' || s[i+1] == '\'') {
				i += 2
				continue
			}
			if (quoted == 0 && (s[i] == ' ' || s[i] == '\t')) || (quoted != 0 && s[i] == quoted) {
				break
			}
			i++
		}
		tok := s[start:i]
		if i < len(s) {
			i++ // the separator or closing quote
		}
		var b strings.Builder
		escaped := false
		for j := 0; j < len(tok); j++ {
			if !escaped && tok[j] == '\\' {
				escaped = true
				continue
			}
			escaped = false
			b.WriteByte(tok[j])
		}
		out = append(out, b.String())
	}
}

// resolveVars replaces ${NAME} as httpd's ap_resolve_env does: from the
// Define'd variables first, then the environment. Unknown names stay as
// written and are reported through undefined. A result longer than max
// bytes is not built: ok is false (a Define doubling chain would otherwise
// double memory with every level).
func resolveVars(s string, lookup func(string) (string, bool), undefined func(string), max int) (out string, ok bool) {
	if !strings.Contains(s, "${") {
		return s, len(s) <= max
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break
		}
		name := s[i+2 : i+2+j]
		v, found := lookup(name)
		if !found || name == "" {
			undefined(name)
			v = s[i : i+3+j]
		}
		if b.Len()+i+len(v) > max {
			return "", false
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+3+j:]
	}
	if b.Len()+len(s) > max {
		return "", false
	}
	b.WriteString(s)
	return b.String(), true
}

// fnmatch matches name against a shell pattern as apr_fnmatch with
// APR_FNM_PERIOD: *, ? and [...] classes; a leading '.' must be matched
// explicitly.
func fnmatch(pattern, name string, period bool) bool {
	if period && strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	return matchPattern(pattern, name, false)
}

// matchPattern is a small glob matcher (*, ?, [..], \x); with fold it
// compares case-insensitively (ap_strcasecmp_match for ServerAlias).
func matchPattern(p, s string, fold bool) bool {
	// iterative with backtracking on the last '*'
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; c {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if end, ok := matchClass(p[pi:], s[si], fold); end > 0 {
					if ok {
						pi += end
						si++
						continue
					}
				} else if eqByte('[', s[si], fold) {
					pi++
					si++
					continue
				}
			case '\\':
				if pi+1 < len(p) && eqByte(p[pi+1], s[si], fold) {
					pi += 2
					si++
					continue
				}
			default:
				if eqByte(c, s[si], fold) {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lower(a) == lower(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// matchClass matches c against the [...] class at the start of p; end is
// the class length (0 if p has no closing ']').
func matchClass(p string, c byte, fold bool) (end int, ok bool) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) && (first || p[i] != ']') {
		first = false
		lo := p[i]
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			i += 2
		}
		if (c >= lo && c <= hi) || (fold && lower(c) >= lower(lo) && lower(c) <= lower(hi)) {
			ok = true
		}
		i++
	}
	if i >= len(p) {
		return 0, false
	}
	return i + 1, ok != neg
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }
