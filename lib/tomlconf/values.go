package tomlconf

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// table is one TOML table being read: its context name for line lookups
// ("global", "domain.2") and its keys.
type table struct {
	ctx string
	m   map[string]any
}

// typeName names a decoded TOML value's type for messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

func (p *parser) errorf(t *table, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	p.errs.Add(p.file, p.lines.line(t.ctx, key), "%s", msg)
}

func (p *parser) warnf(t *table, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	p.warns.Add(p.file, p.lines.line(t.ctx, key), "%s", msg)
}

func (p *parser) wantType(t *table, key, want string, v any) {
	p.errorf(t, key, "want %s, got %s", want, typeName(v))
}

func (p *parser) str(t *table, key string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.wantType(t, key, "a string", v)
		return "", false
	}
	if strings.ContainsRune(s, 0) {
		p.errorf(t, key, "contains a NUL byte")
		return "", false
	}
	return s, true
}

func (p *parser) boolean(t *table, key string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.wantType(t, key, "true or false", v)
	}
	return b, ok
}

func (p *parser) integer(t *table, key string, v any) (int, bool) {
	n, ok := v.(int64)
	if !ok {
		p.wantType(t, key, "an integer", v)
		return 0, false
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		p.errorf(t, key, "%d is out of range", n)
		return 0, false
	}
	return int(n), true
}

// strings reads an array of strings; with split, a single string is also
// taken and split at white space (as the directive's arguments).
func (p *parser) strList(t *table, key string, v any, split bool) ([]string, bool) {
	if s, ok := v.(string); ok && split {
		return strings.Fields(s), true
	}
	arr, ok := v.([]any)
	if !ok {
		if split {
			p.wantType(t, key, "a string or an array of strings", v)
		} else {
			p.wantType(t, key, "an array of strings", v)
		}
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			p.errorf(t, key, "element %d: want a string, got %s", i+1, typeName(e))
			return nil, false
		}
		if strings.ContainsRune(s, 0) {
			p.errorf(t, key, "element %d contains a NUL byte", i+1)
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// argv reads a command as an argv array: no shell is involved, so each
// argument is one element. A relative program path containing a slash is
// taken relative to the config file's directory.
func (p *parser) argv(t *table, key string, v any) ([]string, bool) {
	if _, ok := v.(string); ok {
		p.errorf(t, key, "want an array [\"/path/to/program\", \"arg\", ...] (no shell is used), got a string")
		return nil, false
	}
	args, ok := p.strList(t, key, v, false)
	if !ok {
		return nil, false
	}
	if len(args) == 0 || args[0] == "" {
		p.errorf(t, key, "needs a program to run")
		return nil, false
	}
	if !filepath.IsAbs(args[0]) && strings.ContainsRune(args[0], '/') {
		args[0] = p.abs(args[0])
	}
	return args, true
}

// path reads a file or directory path, made absolute against the config
// file's directory.
func (p *parser) path(t *table, key string, v any) (string, bool) {
	s, ok := p.str(t, key, v)
	if !ok {
		return "", false
	}
	if s == "" {
		p.errorf(t, key, "empty path")
		return "", false
	}
	return p.abs(s), true
}

func (p *parser) abs(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	return filepath.Join(p.dir, s)
}

// listenAddr reads "host:port", ":port", "[::1]:port" or a bare port
// number (string or integer).
func (p *parser) listenAddr(t *table, key string, v any) (string, bool) {
	if n, ok := v.(int64); ok {
		if n <= 0 || n > 65535 {
			p.errorf(t, key, "port %d is not in 1..65535", n)
			return "", false
		}
		return ":" + strconv.FormatInt(n, 10), true
	}
	s, ok := p.str(t, key, v)
	if !ok {
		return "", false
	}
	if _, err := strconv.Atoi(s); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		p.errorf(t, key, "%q is not an address like \":80\" or \"127.0.0.1:8080\"", s)
		return "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		p.errorf(t, key, "port %q is not in 1..65535", port)
		return "", false
	}
	if strings.ContainsAny(host, " \t/") {
		p.errorf(t, key, "invalid host %q", host)
		return "", false
	}
	return s, true
}

func addrPort(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// fileMode reads a permission mode: a string of octal digits ("0640") or
// a TOML integer (0o640).
func (p *parser) fileMode(t *table, key string, v any) (string, bool) {
	var n uint64
	switch x := v.(type) {
	case int64:
		if x < 0 {
			p.errorf(t, key, "negative mode")
			return "", false
		}
		n = uint64(x)
	case string:
		var err error
		n, err = strconv.ParseUint(x, 8, 32)
		if err != nil || x == "" {
			p.errorf(t, key, "%q is not an octal mode like \"0640\"", x)
			return "", false
		}
	default:
		p.wantType(t, key, "an octal mode like \"0640\" or 0o640", v)
		return "", false
	}
	if n > 0o777 {
		p.errorf(t, key, "mode %#o has bits beyond 0777", n)
		return "", false
	}
	return fmt.Sprintf("%04o", n), true
}

// account reads a user or group: a name or a numeric id.
func (p *parser) account(t *table, key string, v any) (string, bool) {
	if n, ok := v.(int64); ok {
		if n < 0 || n > math.MaxInt32 {
			p.errorf(t, key, "id %d out of range", n)
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
	s, ok := p.str(t, key, v)
	if !ok {
		return "", false
	}
	if s == "" || len(s) > 64 || s[0] == '-' {
		p.errorf(t, key, "invalid name %q", s)
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isBare(c) || c == '.' || (c == '$' && i == len(s)-1)) {
			p.errorf(t, key, "invalid name %q", s)
			return "", false
		}
	}
	return s, true
}

// uriCheck is mod_md's md_util_abs_uri_check: "" when s is an absolute
// URI, else what is wrong.
func uriCheck(s string) string {
	if strings.ContainsAny(s, " \t") {
		return "whitespace in uri"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "not an uri"
	}
	if u.Scheme == "" {
		return "missing uri scheme"
	}
	if len(u.Scheme)+1 >= len(s) {
		return "missing uri identifier"
	}
	switch {
	case strings.HasPrefix(u.Scheme, "http"):
		host := u.Hostname()
		if host == "" {
			return "missing hostname"
		}
		if net.ParseIP(host) == nil && !isDNSName(host) {
			return "invalid hostname"
		}
		if ps := u.Port(); ps != "" {
			if n, err := strconv.Atoi(ps); err != nil || n <= 0 || n > 65535 {
				return "invalid port"
			}
		} else if strings.HasSuffix(u.Host, ":") {
			return "invalid port"
		}
	case u.Scheme == "mailto":
		rest := s[len("mailto:"):]
		at := strings.IndexByte(rest, '@')
		switch {
		case at < 0:
			return "missing @"
		case strings.Contains(rest[at+1:], "@"):
			return "duplicate @"
		case at == 0:
			return "missing local part"
		case at == len(rest)-1:
			return "missing hostname"
		case strings.Contains(rest, ".."):
			return "double period"
		}
	}
	return ""
}

// isDNSName accepts host names mod_md's md_dns_is_name would (single
// labels such as "localhost" included).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > md.MaxNameLen {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !(isBare(l[i]) && l[i] != '_') {
				return false
			}
		}
	}
	return true
}

// httpURICheck is mod_md's md_util_abs_http_uri_check.
func httpURICheck(s string) string {
	if e := uriCheck(s); e != "" {
		return e
	}
	u, _ := url.Parse(s)
	if !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return "uri scheme must be http or https"
	}
	return ""
}

// quoteArgv joins argv into one command line that mod_md's
// apr_tokenize_to_argv splits back into the same argv: md.json keeps
// cmd-dns-01 as a string.
func quoteArgv(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\"'\\") {
			b.WriteString(a)
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(a); j++ {
			if a[j] == '"' || a[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		b.WriteByte('"')
	}
	return b.String()
}
