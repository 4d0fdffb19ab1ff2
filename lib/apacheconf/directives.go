package apacheconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
)

// Argument shapes of httpd's command_rec.
const (
	take1 = iota
	take2
	take12
	takeArgv
	rawArgs
)

// Placement classes of mod_md's md_conf_check_location.
const (
	locAll   = iota // A: anywhere (server, vhost, MD section)
	locNotMD        // N: not inside an MD section
	locMD           // S: only inside an MD section
)

type directive struct {
	name  string // canonical spelling, used in messages
	args  int
	help  string
	dirOK bool // RSRC_CONF|OR_AUTHCFG: may appear in <Directory>, <If>, ...
	set   func(w *walker, n *node, argv []string, raw string) string
}

// mdDirectives are mod_md 2.6's commands (src/mod_md_config.c md_cmds).
// <MDomain> and <MDomainSet> are handled as sections.
var mdDirectives = map[string]*directive{}

func init() {
	for _, d := range []*directive{
		{"MDCertificateAuthority", takeArgv, "URL(s) or known name(s) of CA issuing the certificates", false, setCA},
		{"MDCertificateAgreement", take1, "either 'accepted' or the URL of CA Terms-of-Service agreement you accept", false, setAgreement},
		{"MDCAChallenges", takeArgv, "A list of challenge types to be used.", false, setChallenges},
		{"MDCertificateProtocol", take1, "Protocol used to obtain/renew certificates", false, setProto},
		{"MDContactEmail", take1, "Email address used for account registration", false, setContact},
		{"MDDriveMode", take1, "deprecated, older name for MDRenewMode", false, setRenewMode},
		{"MDRenewMode", take1, "Controls how renewal of Managed Domain certificates shall be handled.", false, setRenewMode},
		{"MDomain", takeArgv, "A group of server names with one certificate", false, setMDomain},
		{"MDMember", takeArgv, "Define domain name(s) part of the Managed Domain. Use 'auto' or 'manual' to enable/disable auto adding names from virtual hosts.", false, setMembers},
		{"MDMembers", takeArgv, "Define domain name(s) part of the Managed Domain. Use 'auto' or 'manual' to enable/disable auto adding names from virtual hosts.", false, setMembers},
		{"MDMustStaple", take1, "Enable/Disable the Must-Staple flag for new certificates.", false, onOffProp(func(p *props) **bool { return &p.mustStaple })},
		{"MDPortMap", take12, "Declare the mapped ports 80 and 443 on the local server. E.g. 80:8000 to indicate that the server port 8000 is reachable as port 80 from the internet. Use 80:- to indicate that port 80 is not reachable from the outside.", false, setPortMap},
		{"MDPrivateKeys", takeArgv, "set the type and parameters for private key generation", false, setPKeys},
		{"MDHttpProxy", take1, "URL of a HTTP(S) proxy to use for outgoing connections", false, setProxy},
		{"MDStoreDir", take1, "the directory for file system storage of managed domain data.", false, setStoreDir},
		{"MDRenewWindow", take1, "Time length for renewal before certificate expires (defaults to days).", false, setWindow(false)},
		{"MDRequireHttps", take1, "Redirect non-secure requests to the https: equivalent.", true, setRequireHTTPS},
		{"MDNotifyCmd", rawArgs, "Set the command to run when signup/renew of domain is complete.", false, setNotifyCmd},
		{"MDBaseServer", take1, "Allow managing of base server outside virtual hosts.", false, setBaseServer},
		{"MDChallengeDns01", rawArgs, "Set the command for setup/teardown of dns-01 challenges", false, setDNS01Cmd},
		{"MDChallengeDns01Version", take1, "Set the type of arguments to call `MDChallengeDns01` with", false, setDNS01Version},
		{"MDCertificateFile", take1, "set the static certificate (chain) file to use for this domain.", false, addCertFile},
		{"MDCertificateKeyFile", take1, "set the static private key file to use for this domain.", false, addKeyFile},
		{"MDServerStatus", take1, "On to see Managed Domains in server-status.", false, globalOnOff(func(m *modConf) **bool { return &m.serverStatus })},
		{"MDCertificateStatus", take1, "On to see Managed Domain expose /.httpd/certificate-status.", false, globalOnOff(func(m *modConf) **bool { return &m.certStatus })},
		{"MDWarnWindow", take1, "When less time remains for a certificate, send our/log a warning (defaults to days)", false, setWindow(true)},
		{"MDMessageCmd", rawArgs, "Set the command run when a message about a domain is issued.", false, setMessageCmd},
		{"MDStapling", take1, "Enable/Disable OCSP Stapling for this/all Managed Domain(s).", false, onOffProp(func(p *props) **bool { return &p.stapling })},
		{"MDStapleOthers", take1, "Enable/Disable OCSP Stapling for certificates not in Managed Domains.", false, onOffProp(func(p *props) **bool { return &p.stapleOthers })},
		{"MDStaplingKeepResponse", take1, "The amount of time to keep an OCSP response in the store.", false, setOCSPKeep},
		{"MDStaplingRenewWindow", take1, "Time length for renewal before OCSP responses expire (defaults to days).", false, setOCSPRenew},
		{"MDCertificateCheck", take2, "Set name and URL pattern for a certificate monitoring site.", false, setCertCheck},
		{"MDActivationDelay", take1, "How long to delay activation of new certificates", false, setActivationDelay},
		{"MDCACertificateFile", take1, "Set the CA file to use for connections", false, setCACerts},
		{"MDHttpProxyCACertificateFile", take1, "Set the CA file to use for connections to the HTTP(S) proxy", false, setProxyCACerts},
		{"MDExternalAccountBinding", take12, "Set the external account binding keyid and hmac values to use at CA", false, setEAB},
		{"MDRetryDelay", take1, "Time length for first retry, doubled on every consecutive error.", false, setRetryDelay},
		{"MDRetryFailover", take1, "The number of errors before a failover to another CA is triggered.", false, setRetryFailover},
		{"MDStoreLocks", take1, "Configure locking of store for updates.", false, setStoreLocks},
		{"MDMatchNames", take1, "Determines how DNS names are matched to vhosts.", false, setMatchNames},
		{"MDInitialDelay", take1, "How long to delay the first certificate check.", false, setInitialDelay},
		{"MDCheckInterval", take1, "Time between certificate checks.", false, setCheckInterval},
		{"MDProfile", take1, "The name of an CA profile to order certificates for.", false, setProfile},
		{"MDProfileMandatory", take1, "Determines if a configured CA profile is mandatory.", false, onOffProp(func(p *props) **bool { return &p.profileMandatory })},
		{"MDRenewViaARI", take1, "Enable/Disable ACME ARI (RFC 9773) to trigger renewals.", false, onOffProp(func(p *props) **bool { return &p.ariRenewals })},
		// mdtools extensions (not in mod_md)
		{"MDPrivateKeyReuse", take1, "Keep the private keys when certificates are renewed (mdtools).", false, onOffProp(func(p *props) **bool { return &p.reuseKey })},
		{"MDPreferredChain", take1, "Prefer the CA's chain whose topmost issuer has this common name (mdtools).", false, setPreferredChain},
	} {
		mdDirectives[strings.ToLower(d.name)] = d
	}
}

// Directives is the list of mod_md directive names this reader knows,
// including the <MDomain> and <MDomainSet> sections.
func Directives() []string {
	out := []string{"<MDomain>", "<MDomainSet>"}
	for _, d := range mdDirectives {
		out = append(out, d.name)
	}
	return out
}

var coreDirectives = map[string]bool{
	"servername": true, "serveralias": true, "serveradmin": true, "listen": true, "sslengine": true,
	"protocols": true, "include": true, "includeoptional": true, "define": true, "undefine": true,
	"serverroot": true, "loadmodule": true,
}

func knownDirective(name string) bool {
	k := strings.ToLower(strings.TrimPrefix(name, "<"))
	return coreDirectives[k] || mdDirectives[k] != nil || knownSection(k)
}

func knownSection(name string) bool {
	switch strings.ToLower(strings.Trim(name, "<>")) {
	case "virtualhost", "mdomain", "mdomainset", "directory", "directorymatch", "location", "locationmatch",
		"files", "filesmatch", "if", "elseif", "else", "ifmodule", "ifdefine", "iffile", "ifversion",
		"ifdirective", "ifsection", "limit", "limitexcept":
		return true
	}
	return false
}

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
	return &w.srv.props
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
	case "protocols":
		w.srv.protocols = nil
		for _, p := range splitArgs(n.args) {
			w.srv.protocols = append(w.srv.protocols, strings.ToLower(p))
		}
		w.srv.protoSet = true
	case "listen":
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

func onOff(name, v string) (bool, string) {
	switch strings.ToLower(v) {
	case "on":
		return true, ""
	case "off":
		return false, ""
	}
	return false, "unknown '" + v + "', supported parameter values are 'on' and 'off'"
}

func setTransitive(p **int, v string) bool {
	switch strings.ToLower(v) {
	case "auto":
		one := 1
		*p = &one
	case "manual":
		zero := 0
		*p = &zero
	default:
		return false
	}
	return true
}

func onOffProp(field func(*props) **bool) func(*walker, *node, []string, string) string {
	return func(w *walker, n *node, argv []string, _ string) string {
		d := mdDirectives[n.key]
		if err := w.check(d.name, locAll); err != "" {
			return err
		}
		v, err := onOff(d.name, argv[0])
		if err != "" {
			return err
		}
		*field(w.props()) = &v
		return ""
	}
}

func globalOnOff(field func(*modConf) **bool) func(*walker, *node, []string, string) string {
	return func(w *walker, n *node, argv []string, _ string) string {
		d := mdDirectives[n.key]
		if err := w.check(d.name, locAll); err != "" {
			return err
		}
		v, err := onOff(d.name, argv[0])
		if err != "" {
			return err
		}
		*field(&w.cfg.mc) = &v
		return ""
	}
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

func setMDomain(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDomain", locNotMD); err != "" {
		return err
	}
	def, err := w.newMD(n, argv)
	if err != "" {
		return err
	}
	w.cfg.mds = append(w.cfg.mds, def)
	return ""
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

func setMembers(w *walker, n *node, argv []string, _ string) string {
	d := mdDirectives[n.key]
	if w.md == nil {
		if len(argv) == 1 {
			if !setTransitive(&w.srv.props.transitive, argv[0]) {
				return "unknown value, use \"auto|manual\""
			}
			return ""
		}
		return d.name + " is only valid inside a '<MDomainSet' context, not here"
	}
	for _, a := range argv {
		if !setTransitive(&w.md.props.transitive, a) {
			w.md.domains.Add(a)
		}
	}
	return ""
}

func setCA(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateAuthority", locAll); err != "" {
		return err
	}
	p := w.props()
	p.caURLs, p.caURLsSet = []string{}, true
	for _, a := range argv {
		if u, ok := md.CAURLForName(a); ok {
			p.caURLs = append(p.caURLs, u)
			continue
		}
		if msg := absURICheck(a, false); msg != "" {
			names := make([]string, len(md.KnownCAs))
			for i, c := range md.KnownCAs {
				names[i] = c.Name
			}
			return fmt.Sprintf("The CA name '%s' is not known and it is not a URL either (%s). Known CA names are: %s.",
				a, msg, strings.Join(names, " "))
		}
		p.caURLs = append(p.caURLs, a)
	}
	return ""
}

// absURICheck is md_util_abs_uri_check (httpOnly: md_util_abs_http_uri_check).
func absURICheck(s string, httpOnly bool) string {
	if strings.ContainsAny(s, " \t") {
		return "whitespace in uri"
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(err.Error(), "invalid port") {
			return "invalid port"
		}
		return "not an uri"
	}
	if u.Scheme == "" {
		return "missing uri scheme"
	}
	if len(u.Scheme)+1 >= len(s) {
		return "missing uri identifier"
	}
	scheme := strings.ToLower(u.Scheme)
	if strings.HasPrefix(scheme, "http") {
		if u.Hostname() == "" {
			return "missing hostname"
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n == 0 || n > 65353 {
				return "invalid port"
			}
		}
	}
	if httpOnly && scheme != "http" && scheme != "https" {
		return "uri scheme must be http or https"
	}
	return ""
}

func setAgreement(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateAgreement", locAll); err != "" {
		return err
	}
	w.props().caAgreement = argv[0]
	return ""
}

func setChallenges(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCAChallenges", locAll); err != "" {
		return err
	}
	p := w.props()
	p.caChallenges, p.caChallengesSet = append([]string{}, argv...), true
	return ""
}

func setProto(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateProtocol", locAll); err != "" {
		return err
	}
	w.props().caProto = argv[0]
	return ""
}

func setContact(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDContactEmail", locAll); err != "" {
		return err
	}
	w.props().contact = argv[0]
	return ""
}

func setRenewMode(w *walker, n *node, argv []string, _ string) string {
	var m int
	switch strings.ToLower(argv[0]) {
	case "auto", "automatic":
		m = md.RenewAuto
	case "always":
		m = md.RenewAlways
	case "manual", "stick":
		m = md.RenewManual
	default:
		return "unknown MDDriveMode " + argv[0]
	}
	if err := w.check(mdDirectives[n.key].name, locAll); err != "" {
		return err
	}
	w.props().renewMode = &m
	return ""
}

func setPortMap(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDPortMap", locNotMD); err != "" {
		return err
	}
	for _, v := range argv {
		if err := w.portMap(v); err != "" {
			return err
		}
	}
	return ""
}

func (w *walker) portMap(v string) string {
	var net int
	var rest string
	switch {
	case strings.HasPrefix(v, "http:"):
		net, rest = 80, v[4:]
	case strings.HasPrefix(v, "https:"):
		net, rest = 443, v[5:]
	default:
		i := 0
		for i < len(v) && (v[i] >= '0' && v[i] <= '9' || (i == 0 && (v[i] == '-' || v[i] == '+'))) {
			i++
		}
		n, err := strconv.Atoi(v[:i])
		if err != nil && i > 0 {
			return "unable to parse first port number"
		}
		net, rest = n, v[i:]
	}
	if !strings.HasPrefix(rest, ":") {
		return "no ':' after first port number"
	}
	rest = rest[1:]
	local := 0
	if !strings.HasPrefix(rest, "-") {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || (i == 0 && rest[i] == '+')) {
			i++
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil && i > 0 {
			return "unable to parse second port number"
		}
		if n <= 0 || n > 65535 {
			return "invalid number for port map, must be in ]0,65535]"
		}
		local = int(n)
	}
	switch net {
	case 80:
		w.cfg.mc.local80 = local
	case 443:
		w.cfg.mc.local443 = local
	default:
		return "mapped port number must be 80 or 443"
	}
	w.cfg.mc.portMapSet = true
	return ""
}

func setPKeys(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDPrivateKeys", locAll); err != "" {
		return err
	}
	ks, err := md.ParseKeySpecs(argv)
	if err != nil {
		return err.Error()
	}
	for _, k := range ks {
		if _, ok := md.CurveName(k.Curve); k.Type == md.KeyEC && !ok {
			w.r.warnf(n.file, n.line, "MDPrivateKeys: mod_md accepts the curve '%s' but md-order can only make P-256, P-384, P-521 and RSA keys", k.Curve)
		}
	}
	w.props().pks = ks
	return ""
}

func setProxy(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDHttpProxy", locAll); err != "" {
		return err
	}
	if msg := absURICheck(argv[0], true); msg != "" {
		return msg
	}
	if w.md != nil {
		w.md.props.proxyURL = argv[0]
	} else {
		w.cfg.mc.envProxyURL = argv[0]
	}
	return ""
}

func setStoreDir(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStoreDir", locNotMD); err != "" {
		return err
	}
	w.cfg.mc.storeDir = argv[0]
	w.cfg.mc.storeDirFile = n.file
	return ""
}

// parseWindow is md_timeslice_parse with mod_md's texts.
func parseWindow(v string, limit bool) (md.Timeslice, string) {
	if d, err := md.ParseDuration(v, md.Day); err == nil {
		return md.Timeslice{Duration: d}, ""
	}
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i < len(v) && v[i] == '%' {
		n, err := strconv.Atoi(v[:i])
		if err != nil {
			return md.Timeslice{}, "has unrecognized format"
		}
		if n < 0 {
			return md.Timeslice{}, "percent must be less than 100"
		}
		if limit && n >= 100 {
			return md.Timeslice{}, "a length of 100% or more is not allowed."
		}
		return md.Timeslice{Percent: n, IsPercent: true}, ""
	}
	return md.Timeslice{}, "has unrecognized format"
}

func setWindow(warn bool) func(*walker, *node, []string, string) string {
	return func(w *walker, n *node, argv []string, _ string) string {
		name := mdDirectives[n.key].name
		if err := w.check(name, locAll); err != "" {
			return err
		}
		ts, err := parseWindow(argv[0], true)
		if err != "" {
			return name + " " + err
		}
		if warn {
			w.props().warnWindow = &ts
		} else {
			w.props().renewWindow = &ts
		}
		return ""
	}
}

func setRequireHTTPS(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDRequireHttps", locAll); err != "" {
		return err
	}
	var v string
	switch strings.ToLower(argv[0]) {
	case "off":
	case "temporary":
		v = "temporary"
	case "permanent":
		v = "permanent"
	default:
		return "unknown '" + argv[0] + "', supported parameter values are 'temporary' and 'permanent'"
	}
	w.props().requireHTTPS = &v
	return ""
}

func setNotifyCmd(w *walker, n *node, _ []string, raw string) string {
	if err := w.check("MDNotifyCmd", locNotMD); err != "" {
		return err
	}
	w.cfg.mc.notifyCmd = raw
	return ""
}

func setMessageCmd(w *walker, n *node, _ []string, raw string) string {
	if err := w.check("MDMessageCmd", locNotMD); err != "" {
		return err
	}
	w.cfg.mc.messageCmd = raw
	return ""
}

func setBaseServer(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDBaseServer", locNotMD); err != "" {
		return err
	}
	v, err := onOff("MDBaseServer", argv[0])
	if err != "" {
		return err
	}
	w.cfg.mc.baseServer = v
	return ""
}

func setDNS01Cmd(w *walker, n *node, _ []string, raw string) string {
	if err := w.check("MDChallengeDns01", locAll); err != "" {
		return err
	}
	if w.md != nil {
		w.md.props.dns01Cmd = raw
	} else {
		w.cfg.mc.envDNS01Cmd = raw
	}
	return ""
}

func setDNS01Version(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDChallengeDns01Version", locNotMD); err != "" {
		return err
	}
	switch argv[0] {
	case "1":
		w.cfg.mc.dns01Version = 1
	case "2":
		w.cfg.mc.dns01Version = 2
	default:
		return "Only versions `1` and `2` are supported"
	}
	return ""
}

func addCertFile(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateFile", locMD); err != "" {
		return err
	}
	w.md.certFiles = append(w.md.certFiles, w.r.relative(argv[0]))
	return ""
}

func addKeyFile(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateKeyFile", locMD); err != "" {
		return err
	}
	w.md.keyFiles = append(w.md.keyFiles, w.r.relative(argv[0]))
	return ""
}

func setOCSPKeep(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStaplingKeepResponse", locAll); err != "" {
		return err
	}
	ts, err := parseWindow(argv[0], false)
	if err != "" {
		return "MDStaplingKeepResponse " + err
	}
	w.cfg.mc.ocspKeep = ts.String()
	return ""
}

func setOCSPRenew(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStaplingRenewWindow", locAll); err != "" {
		return err
	}
	ts, err := parseWindow(argv[0], false)
	if err == "" && ts.IsPercent && ts.Percent >= 100 {
		err = "with a length of 100% or more is not allowed."
	}
	if err != "" {
		return "MDStaplingRenewWindow " + err
	}
	w.cfg.mc.ocspRenew = ts.String()
	return ""
}

func setCertCheck(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateCheck", locAll); err != "" {
		return err
	}
	w.cfg.mc.certCheckName, w.cfg.mc.certCheckURL = argv[0], argv[1]
	return ""
}

func setActivationDelay(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDActivationDelay", locNotMD); err != "" {
		return err
	}
	d, err := md.ParseDuration(argv[0], md.Day)
	if err != nil {
		return "unrecognized duration format"
	}
	w.cfg.mc.activationDelay = md.FormatDuration(d)
	return ""
}

func setCACerts(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCACertificateFile", locAll); err != "" {
		return err
	}
	if w.md != nil {
		w.md.props.caCerts = argv[0]
	} else {
		w.cfg.mc.envCACerts = argv[0]
	}
	return ""
}

func setProxyCACerts(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDHttpProxyCACertificateFile", locAll); err != "" {
		return err
	}
	if w.md != nil {
		w.md.props.proxyCACerts = argv[0]
	} else {
		w.cfg.mc.envProxyCACerts = argv[0]
	}
	return ""
}

func setEAB(w *walker, n *node, argv []string, _ string) string {
	const name = "MDExternalAccountBinding"
	if err := w.check(name, locAll); err != "" {
		return err
	}
	kid, hmac := argv[0], ""
	if len(argv) == 2 {
		hmac = argv[1]
	} else if strings.EqualFold(kid, "none") {
		kid = "none"
	} else {
		path := w.r.relative(kid)
		data, err := fsread.ReadFile(path, fsread.MaxSmall)
		var fe *fsread.Error
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fsread.ErrNotRegular) && isDir(path):
			return name + ": file not found: " + path // mod_md's text
		case errors.As(err, &fe):
			return name + ": error reading JSON file " + path + ": " + fe.Reason
		case err != nil:
			return name + ": error reading JSON file " + path
		}
		var v struct {
			KID  any `json:"kid"`
			HMAC any `json:"hmac"`
		}
		if json.Unmarshal(data, &v) != nil {
			return name + ": error reading JSON file " + path
		}
		k, _ := v.KID.(string)
		if k == "" {
			return name + ": JSON does not contain 'kid' element in file " + path
		}
		h, _ := v.HMAC.(string)
		if h == "" {
			return name + ": JSON does not contain 'hmac' element in file " + path
		}
		kid, hmac = k, h
	}
	p := w.props()
	p.eabKID, p.eabHMAC = kid, hmac
	return ""
}

func parseDurationArg(v string, unit time.Duration) (time.Duration, bool) {
	d, err := md.ParseDuration(v, unit)
	return d, err == nil
}

func setRetryDelay(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDRetryDelay", locNotMD); err != "" {
		return err
	}
	d, ok := parseDurationArg(argv[0], time.Second)
	if !ok {
		return "unrecognized duration format"
	}
	if d <= 0 {
		return "minimum delay must be greater than 0"
	}
	w.cfg.mc.retryDelay = md.FormatDuration(d)
	return ""
}

func setRetryFailover(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDRetryFailover", locNotMD); err != "" {
		return err
	}
	v := argv[0]
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n64, _ := strconv.ParseInt(v[:i], 10, 32)
	if n64 <= 0 {
		return "invalid argument, must be a number > 0"
	}
	w.cfg.mc.retryFailover = int(n64)
	return ""
}

func setStoreLocks(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStoreLocks", locNotMD); err != "" {
		return err
	}
	switch strings.ToLower(argv[0]) {
	case "on":
		w.cfg.mc.storeLocks = "on"
	case "off":
		w.cfg.mc.storeLocks = "off"
	default:
		d, ok := parseDurationArg(argv[0], time.Second)
		if !ok {
			return "neither 'on', 'off' or a duration specified"
		}
		if d == 0 {
			w.cfg.mc.storeLocks = "off"
		} else {
			w.cfg.mc.storeLocks = md.FormatDuration(d)
		}
	}
	return ""
}

func setMatchNames(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDMatchNames", locNotMD); err != "" {
		return err
	}
	switch strings.ToLower(argv[0]) {
	case "all":
		w.cfg.mc.matchServerNames = false
	case "servernames":
		w.cfg.mc.matchServerNames = true
	default:
		return "invalid argument, must be a 'all' or 'servernames'"
	}
	return ""
}

func setInitialDelay(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDInitialDelay", locNotMD); err != "" {
		return err
	}
	d, ok := parseDurationArg(argv[0], time.Second)
	if !ok {
		return "unrecognized duration format"
	}
	if d < 0 {
		return "initial delay must not be negative"
	}
	w.cfg.mc.initialDelay = md.FormatDuration(d)
	return ""
}

func setCheckInterval(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCheckInterval", locNotMD); err != "" {
		return err
	}
	d, ok := parseDurationArg(argv[0], time.Second)
	if !ok {
		return "unrecognized duration format"
	}
	if d < time.Second {
		return "check interval cannot be less than one second"
	}
	w.cfg.mc.checkInterval = md.FormatDuration(d)
	return ""
}

func setProfile(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDProfile", locAll); err != "" {
		return err
	}
	w.props().profile = argv[0]
	return ""
}

func setPreferredChain(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDPreferredChain", locAll); err != "" {
		return err
	}
	w.props().preferredChain = argv[0]
	return ""
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
