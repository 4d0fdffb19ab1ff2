package apacheconf

import (
	"fmt"
	"strconv"
	"strings"
)

// walker applies directives to the config, tracking the context.
type walker struct {
	r   *reader
	cfg *config
	srv *server // base or current vhost
	md  *mdDef  // current <MDomain> section
	dir string  // innermost directory-like section ("directory", "location", "if", ...)

}

func (w *walker) errorf(n *node, format string, args ...any) {
	w.r.errorf(n.file, n.line, format, args...)
}

func (w *walker) props() *props {
	if w.md != nil {
		return &w.md.props
	}
	if w.srv.props == nil {
		w.srv.props = &props{}
	}
	return w.srv.props
}

func (w *walker) walk(nodes []*node) {
	for _, n := range nodes {
		if w.r.aborted {
			return
		}
		if n.section {
			w.section(n)
			continue
		}
		if d := mdDirectives[n.key]; d != nil {
			w.mdDirective(d, n)
			continue
		}
		if strings.HasPrefix(n.key, "md") {
			w.errorf(n, "Invalid command '%s', perhaps misspelled or defined by a module not included in the server configuration", n.name)
			continue
		}
		w.core(n)
	}
}

func (w *walker) section(n *node) {
	switch n.key {
	case "virtualhost":
		if !w.srv.base || w.md != nil || w.dir != "" {
			w.errorf(n, "<VirtualHost> cannot occur within <%s> section", w.enclosing())
			return
		}
		v := &server{file: n.file, line: n.line, seq: len(w.cfg.vhosts)}
		words := splitArgs(n.args)
		if len(words) == 0 {
			w.errorf(n, "<VirtualHost> must specify at least one address")
			return
		}
		for _, a := range words {
			ad, err := parseAddr(a)
			if err != "" {
				w.errorf(n, "%s", err)
				continue
			}
			v.addrs = append(v.addrs, ad)
		}
		if len(v.addrs) > 0 {
			v.port = v.addrs[0].port
		}
		w.cfg.vhosts = append(w.cfg.vhosts, v)
		prev := w.srv
		w.srv = v
		w.walk(n.children)
		w.srv = prev
	case "mdomain", "mdomainset":
		w.mdSection(n)
	case "directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
		"if", "elseif", "else", "limit", "limitexcept", "proxy", "proxymatch":
		prev := w.dir
		if w.dir == "" || n.key == "directory" || n.key == "directorymatch" || n.key == "location" || n.key == "locationmatch" {
			w.dir = n.key
		}
		w.walkDirContext(n.children)
		w.dir = prev
	default:
		// Sections of other modules (<Macro>, <Proxy>, ...) are not ours.
	}
}

// walkDirContext checks MD directives in directory-like sections; other
// directives there are not ours.
func (w *walker) walkDirContext(nodes []*node) {
	for _, n := range nodes {
		if n.section {
			w.section(n)
			continue
		}
		if d := mdDirectives[n.key]; d != nil {
			w.mdDirective(d, n)
		} else if strings.HasPrefix(n.key, "md") {
			w.errorf(n, "Invalid command '%s', perhaps misspelled or defined by a module not included in the server configuration", n.name)
		}
	}
}

func (w *walker) enclosing() string {
	switch {
	case w.md != nil:
		return "MDomainSet"
	case !w.srv.base:
		return "VirtualHost"
	}
	return w.dir
}

// parseAddr parses a <VirtualHost> address: host[:port], [v6][:port], *, _default_.
func parseAddr(a string) (addr, string) {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		if i := strings.Index(a, "]"); i > 0 {
			host = a[:i+1]
			port = strings.TrimPrefix(a[i+1:], ":")
		}
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
	}
	ad := addr{host: host}
	if port != "" && port != "*" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return ad, fmt.Sprintf("invalid port in <VirtualHost> address %q", a)
		}
		ad.port = p
	}
	return ad, ""
}

// core applies the httpd core and mod_ssl directives md-parse needs.
func (w *walker) core(n *node) {
	switch n.key {
	case "servername":
		w.serverName(n)
	case "serveralias":
		if w.srv.base {
			w.errorf(n, "ServerAlias only used in <VirtualHost>")
			return
		}
		for _, a := range splitArgs(n.args) {
			if hasWildcard(a) {
				w.srv.wildNames = append(w.srv.wildNames, a)
			} else {
				w.srv.names = append(w.srv.names, a)
			}
		}
	case "serveradmin":
		words := splitArgs(n.args)
		if len(words) != 1 {
			w.errorf(n, "ServerAdmin takes one argument, The email address of the server administrator")
			return
		}
		w.srv.admin, w.srv.adminSet = words[0], true
	case "sslengine":
		w.sslEngine(n)
	case "protocols":
		w.srv.protocols = nil
		for _, p := range splitArgs(n.args) {
			w.srv.protocols = append(w.srv.protocols, strings.ToLower(p))
		}
		w.srv.protoSet = true
	case "listen":
		w.listen(n)
	}
}

// serverName takes the host of ServerName (scheme and port dropped; an
// IPv6 literal keeps its brackets) and the port, if the server has none.
func (w *walker) serverName(n *node) {
	words := splitArgs(n.args)
	if len(words) != 1 {
		w.errorf(n, "ServerName takes one argument, The hostname and port of the server")
		return
	}
	h := words[0]
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			h = h[:i+1]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if p, err := strconv.Atoi(h[i+1:]); err == nil && w.srv.port == 0 {
			w.srv.port = p
		}
		h = h[:i]
	}
	w.srv.hostname, w.srv.hostnameSet = h, true
}

// sslEngine records SSLEngine: optional and addr count as off.
func (w *walker) sslEngine(n *node) {
	words := splitArgs(n.args)
	if len(words) != 1 {
		w.errorf(n, "SSLEngine takes one argument, SSL switch for the protocol engine ('on', 'off')")
		return
	}
	w.srv.sslSet = true
	switch strings.ToLower(words[0]) {
	case "on":
		w.srv.ssl = true
	case "off", "optional", "addr":
		w.srv.ssl = false
	default:
		w.errorf(n, "Argument must be On, Off, or Optional")
	}
}

// listen adds a Listen of the base server to the config's listeners.
func (w *walker) listen(n *node) {
	if !w.srv.base {
		w.errorf(n, "Listen cannot occur within <VirtualHost> section")
		return
	}
	words := splitArgs(n.args)
	if len(words) < 1 {
		w.errorf(n, "Listen requires at least one argument")
		return
	}
	l, err := parseListen(words)
	if err != "" {
		w.errorf(n, "%s", err)
		return
	}
	w.cfg.listeners = append(w.cfg.listeners, l)
}

// parseListen parses "Listen [IP-address:]portnumber [protocol] [options=...]".
func parseListen(words []string) (listener, string) {
	a := words[0]
	host, port := "", a
	if strings.HasPrefix(a, "[") {
		i := strings.Index(a, "]")
		if i < 0 {
			return listener{}, fmt.Sprintf("Invalid address or port %q", a)
		}
		host, port = a[:i+1], strings.TrimPrefix(a[i+1:], ":")
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return listener{}, "Port must be specified"
	}
	l := listener{host: host, port: p}
	for _, wd := range words[1:] {
		if strings.Contains(wd, "=") {
			continue // options=...
		}
		l.protocol = strings.ToLower(wd)
	}
	if l.protocol == "" {
		// httpd: "https" for port 443, else "http"
		if p == 443 {
			l.protocol = "https"
		} else {
			l.protocol = "http"
		}
	}
	return l, ""
}

// mdDirective checks arguments and placement, then runs the setter.
func (w *walker) mdDirective(d *directive, n *node) {
	argv := splitArgs(n.args)
	switch d.args {
	case take1:
		if len(argv) != 1 {
			w.errorf(n, "%s takes one argument, %s", d.name, d.help)
			return
		}
	case take2:
		if len(argv) != 2 {
			w.errorf(n, "%s takes two arguments, %s", d.name, d.help)
			return
		}
	case take12:
		if len(argv) < 1 || len(argv) > 2 {
			w.errorf(n, "%s takes 1-2 arguments, %s", d.name, d.help)
			return
		}
	}
	if w.dir != "" && !d.dirOK {
		w.errorf(n, "%s not allowed here", d.name)
		return
	}
	if msg := d.set(w, n, argv, n.args); msg != "" {
		w.errorf(n, "%s", msg)
	}
}

// check is md_conf_check_location.
func (w *walker) check(name string, loc int) string {
	switch loc {
	case locNotMD:
		if w.md != nil {
			return name + " is not allowed inside an '<MDomainSet' context"
		}
	case locMD:
		if w.md == nil {
			return name + " is only valid inside a '<MDomainSet' context, not here"
		}
		return ""
	case locAll:
		if w.md != nil {
			return ""
		}
	}
	switch w.dir {
	case "directory", "directorymatch":
		return name + " cannot occur within <Directory/DirectoryMatch> section"
	case "location", "locationmatch":
		return name + " cannot occur within <Location/LocationMatch> section"
	}
	return ""
}

func (w *walker) newMD(n *node, words []string) (*mdDef, string) {
	def := &mdDef{transitive: -1, file: n.file, line: n.line}
	for _, a := range words {
		var t *int
		if setTransitive(&t, a) {
			def.transitive = *t
			continue
		}
		def.domains.Add(a)
	}
	if def.domains.Len() == 0 {
		return nil, "needs at least one domain name"
	}
	return def, ""
}

func (w *walker) mdSection(n *node) {
	name := "<" + n.name
	if err := w.check(name, locNotMD); err != "" {
		w.errorf(n, "%s", err)
		return
	}
	if w.dir != "" {
		w.errorf(n, "%s> not allowed here", name)
		return
	}
	if strings.TrimSpace(n.args) == "" {
		w.errorf(n, "<MDomainSet > section must specify a unique domain name")
		return
	}
	// The first name is always a domain, even "auto" or "manual".
	words := splitArgs(n.args)
	def := &mdDef{transitive: -1, file: n.file, line: n.line, section: true}
	def.domains.Add(words[0])
	for _, a := range words[1:] {
		var t *int
		if setTransitive(&t, a) {
			def.transitive = *t
			continue
		}
		def.domains.Add(a)
	}
	w.md = def
	errsBefore := len(w.r.errs)
	w.walk(n.children)
	w.md = nil
	if len(w.r.errs) == errsBefore {
		if def.props.transitive != nil {
			def.transitive = *def.props.transitive
		}
		w.cfg.mds = append(w.cfg.mds, def)
	}
}
