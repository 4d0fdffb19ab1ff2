package tomlconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
)

// scope says where a key may appear.
type scope int

const (
	inGlobal scope = 1 << iota
	inDomain
	inBoth = inGlobal | inDomain
)

// conf holds the values of one table; nil/empty means not set. [global]
// fills the defaults, a [[domain]] table overrides them.
type conf struct {
	// md.json settings (MD* directives allowed anywhere)
	caURLs           []string
	caProto          *string
	agreement        *string
	contacts         []string
	renewMode        *int
	renewWindow      *md.Timeslice
	warnWindow       *md.Timeslice
	privKeys         md.KeySpecs
	challenges       []string
	mustStaple       *bool
	requireHTTPS     *string
	stapling         *bool
	dns01            []string
	eab              *md.EAB // KID "none": explicitly none
	profile          *string
	profileMandatory *bool
	ari              *bool
	proxy            *string
	caCerts          *string
	proxyCACerts     *string
	transitive       *int

	// [[domain]] only
	domains   []string
	certFiles []string
	keyFiles  []string

	// host settings (non-Apache)
	webroot, httpListen, tlsListen, httpsAddr *string
	deployDir, owner, group, mode, keyMode    *string

	// [global] only: server-wide settings
	settings md.Settings
	portMap  *md.PortMap
}

// keyDef is one md.toml key.
type keyDef struct {
	name      string
	scope     scope
	directive string // the mod_md directive it mirrors, "" if none
	set       func(p *parser, t *table, key string, v any, c *conf)
}

var keyDefs []keyDef
var keyByName map[string]*keyDef

func init() {
	keyDefs = []keyDef{
		{"domains", inDomain, "MDomain", setDomains},
		{"certificate-authority", inBoth, "MDCertificateAuthority", setCA},
		{"certificate-protocol", inBoth, "MDCertificateProtocol", setProto},
		{"certificate-agreement", inBoth, "MDCertificateAgreement", setAgreement},
		{"contact-email", inBoth, "MDContactEmail", setContact},
		{"members", inBoth, "MDMembers", setMembers},
		{"renew-mode", inBoth, "MDRenewMode", setRenewMode},
		{"renew-window", inBoth, "MDRenewWindow", setWindow(func(c *conf) **md.Timeslice { return &c.renewWindow })},
		{"warn-window", inBoth, "MDWarnWindow", setWindow(func(c *conf) **md.Timeslice { return &c.warnWindow })},
		{"private-keys", inBoth, "MDPrivateKeys", setPrivKeys},
		{"ca-challenges", inBoth, "MDCAChallenges", setChallenges},
		{"must-staple", inBoth, "MDMustStaple", setBool(func(c *conf) **bool { return &c.mustStaple })},
		{"require-https", inBoth, "MDRequireHttps", setRequireHTTPS},
		{"stapling", inBoth, "MDStapling", setBool(func(c *conf) **bool { return &c.stapling })},
		{"challenge-dns01", inBoth, "MDChallengeDns01", setDNS01},
		{"external-account-binding", inBoth, "MDExternalAccountBinding", setEAB},
		{"profile", inBoth, "MDProfile", setProfile},
		{"profile-mandatory", inBoth, "MDProfileMandatory", setBool(func(c *conf) **bool { return &c.profileMandatory })},
		{"renew-via-ari", inBoth, "MDRenewViaARI", setBool(func(c *conf) **bool { return &c.ari })},
		{"http-proxy", inBoth, "MDHttpProxy", setProxy},
		{"ca-certificate-file", inBoth, "MDCACertificateFile", setCAFile(func(c *conf) **string { return &c.caCerts })},
		{"http-proxy-ca-certificate-file", inBoth, "MDHttpProxyCACertificateFile", setCAFile(func(c *conf) **string { return &c.proxyCACerts })},
		{"certificate-file", inDomain, "MDCertificateFile", setFiles(func(c *conf) *[]string { return &c.certFiles })},
		{"certificate-key-file", inDomain, "MDCertificateKeyFile", setFiles(func(c *conf) *[]string { return &c.keyFiles })},

		{"webroot", inBoth, "", setPath(func(c *conf) **string { return &c.webroot })},
		{"http-listen", inBoth, "", setListen(func(c *conf) **string { return &c.httpListen })},
		{"tls-listen", inBoth, "", setListen(func(c *conf) **string { return &c.tlsListen })},
		{"https-addr", inBoth, "", setListen(func(c *conf) **string { return &c.httpsAddr })},
		{"deploy-dir", inBoth, "", setPath(func(c *conf) **string { return &c.deployDir })},
		{"owner", inBoth, "", setAccount(func(c *conf) **string { return &c.owner })},
		{"group", inBoth, "", setAccount(func(c *conf) **string { return &c.group })},
		{"mode", inBoth, "", setMode(func(c *conf) **string { return &c.mode })},
		{"key-mode", inBoth, "", setMode(func(c *conf) **string { return &c.keyMode })},

		{"store-dir", inGlobal, "MDStoreDir", setStoreDir},
		{"message-cmd", inGlobal, "MDMessageCmd", setCmd(func(c *conf) *[]string { return &c.settings.MessageCmd })},
		{"notify-cmd", inGlobal, "MDNotifyCmd", setCmd(func(c *conf) *[]string { return &c.settings.NotifyCmd })},
		{"reload-cmd", inGlobal, "", setCmd(func(c *conf) *[]string { return &c.settings.ReloadCmd })},
		{"dns01-version", inGlobal, "MDChallengeDns01Version", setDNS01Version},
		{"port-map", inGlobal, "MDPortMap", setPortMap},
		{"retry-delay", inGlobal, "MDRetryDelay", setRetryDelay},
		{"retry-failover", inGlobal, "MDRetryFailover", setRetryFailover},
		{"activation-delay", inGlobal, "MDActivationDelay", setActivationDelay},
		{"check-interval", inGlobal, "MDCheckInterval", setCheckInterval},
		{"stapling-renew-window", inGlobal, "MDStaplingRenewWindow", setStaplingWindow(func(c *conf) *string { return &c.settings.StaplingRenewWindow }, true)},
		{"stapling-keep-response", inGlobal, "MDStaplingKeepResponse", setStaplingWindow(func(c *conf) *string { return &c.settings.StaplingKeepResponse }, false)},
	}
	keyByName = make(map[string]*keyDef, len(keyDefs))
	for i := range keyDefs {
		keyByName[keyDefs[i].name] = &keyDefs[i]
	}
}

func setDomains(p *parser, t *table, key string, v any, c *conf) {
	names, ok := p.strList(t, key, v, false)
	if !ok {
		return
	}
	if len(names) == 0 {
		p.errorf(t, key, "needs at least one domain name")
		return
	}
	out := md.NewDomainSet()
	for _, n := range names {
		if err := md.ValidateDomain(n); err != nil {
			p.errorf(t, key, "%v", err)
			continue
		}
		out.Add(strings.TrimSuffix(n, "."))
	}
	c.domains = out.Names()
}

func setCA(p *parser, t *table, key string, v any, c *conf) {
	args, ok := p.strList(t, key, v, true)
	if !ok {
		return
	}
	if len(args) == 0 {
		p.errorf(t, key, "needs at least one CA name or URL")
		return
	}
	var urls []string
	for _, a := range args {
		if u, ok := md.CAURLForName(a); ok {
			urls = append(urls, u)
			continue
		}
		if e := uriCheck(a); e != "" {
			names := make([]string, len(md.KnownCAs))
			for i, k := range md.KnownCAs {
				names[i] = k.Name
			}
			p.errorf(t, key, "The CA name '%s' is not known and it is not a URL either (%s). Known CA names are: %s.",
				a, e, strings.Join(names, " "))
			return
		}
		urls = append(urls, a)
	}
	c.caURLs = urls
}

func setProto(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if !strings.EqualFold(s, md.ProtoACME) {
		p.errorf(t, key, "unknown CA protocol '%s' (only ACME is supported)", s)
		return
	}
	proto := md.ProtoACME
	c.caProto = &proto
}

func setAgreement(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if s != "accepted" {
		if e := uriCheck(s); e != "" {
			p.errorf(t, key, "want \"accepted\" or the URL of the terms of service, got %q (%s)", s, e)
			return
		}
	}
	c.agreement = &s
}

func setContact(p *parser, t *table, key string, v any, c *conf) {
	var list []string
	if s, isStr := v.(string); isStr {
		list = []string{s}
	} else {
		var ok bool
		if list, ok = p.strList(t, key, v, false); !ok {
			return
		}
	}
	var out []string
	for _, s := range list {
		u := md.Schemify(strings.TrimSpace(s), "mailto")
		if e := uriCheck(u); e != "" {
			p.errorf(t, key, "invalid contact %q: %s", s, e)
			return
		}
		out = append(out, u)
	}
	if out == nil {
		out = []string{}
	}
	c.contacts = out
}

func setMembers(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	var n int
	switch strings.ToLower(s) {
	case "auto":
		n = 1
	case "manual":
		n = 0
	default:
		p.errorf(t, key, "unknown value, use \"auto|manual\"")
		return
	}
	c.transitive = &n
}

func setRenewMode(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	var n int
	switch strings.ToLower(s) {
	case "auto", "automatic":
		n = md.RenewAuto
	case "always":
		n = md.RenewAlways
	case "manual", "stick":
		n = md.RenewManual
	default:
		p.errorf(t, key, "unknown renew mode '%s' (auto, always or manual)", s)
		return
	}
	c.renewMode = &n
}

func setWindow(field func(*conf) **md.Timeslice) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		s, ok := p.str(t, key, v)
		if !ok {
			return
		}
		ts, err := md.ParseTimeslice(s, md.Day)
		if err != nil {
			p.errorf(t, key, "%v", err)
			return
		}
		*field(c) = &ts
	}
}

func setPrivKeys(p *parser, t *table, key string, v any, c *conf) {
	list, ok := p.strList(t, key, v, true)
	if !ok {
		return
	}
	var args []string
	for _, s := range list {
		args = append(args, strings.Fields(s)...)
	}
	ks, err := md.ParseKeySpecs(args)
	if err != nil {
		p.errorf(t, key, "%v", err)
		return
	}
	for _, k := range ks {
		if k.Type == md.KeyEC {
			if _, ok := md.CurveName(k.Curve); !ok {
				p.errorf(t, key, "unsupported curve '%s' (P-256, P-384, P-521 or their secp256r1, secp384r1, secp521r1 names)", k.Curve)
				return
			}
		}
	}
	c.privKeys = ks
}

func setChallenges(p *parser, t *table, key string, v any, c *conf) {
	list, ok := p.strList(t, key, v, true)
	if !ok {
		return
	}
	if len(list) == 0 {
		p.errorf(t, key, "needs at least one challenge type")
		return
	}
	for _, s := range list {
		if s == "" || strings.ContainsAny(s, " \t/") {
			p.errorf(t, key, "invalid challenge type %q", s)
			return
		}
	}
	c.challenges = list
}

func setBool(field func(*conf) **bool) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		if b, ok := p.boolean(t, key, v); ok {
			*field(c) = &b
		}
	}
}

func setRequireHTTPS(p *parser, t *table, key string, v any, c *conf) {
	var s string
	switch x := v.(type) {
	case bool:
		if x {
			p.errorf(t, key, "true is ambiguous: use \"temporary\" or \"permanent\"")
			return
		}
		s = ""
	case string:
		switch strings.ToLower(x) {
		case "off":
			s = ""
		case "temporary", "permanent":
			s = strings.ToLower(x)
		default:
			p.errorf(t, key, "unknown '%s', supported parameter values are 'temporary' and 'permanent'", x)
			return
		}
	default:
		p.wantType(t, key, "\"off\", \"temporary\" or \"permanent\"", v)
		return
	}
	c.requireHTTPS = &s
}

func setDNS01(p *parser, t *table, key string, v any, c *conf) {
	if args, ok := p.argv(t, key, v); ok {
		c.dns01 = args
	}
}

// maxEABFile bounds an EAB JSON file.
const maxEABFile = 64 << 10

func setEAB(p *parser, t *table, key string, v any, c *conf) {
	switch x := v.(type) {
	case string:
		if strings.EqualFold(x, "none") {
			c.eab = &md.EAB{KID: "none"}
			return
		}
		if x == "" {
			p.errorf(t, key, "empty path")
			return
		}
		path := p.abs(x)
		e, err := readEABFile(path)
		if err != nil {
			p.errorf(t, key, "%v", err)
			return
		}
		c.eab = e
	case map[string]any:
		var e md.EAB
		for k, val := range x {
			switch k {
			case "kid", "hmac":
				s, ok := val.(string)
				if !ok || s == "" {
					p.errorf(t, key, "%s: want a non-empty string, got %s", k, typeName(val))
					return
				}
				if k == "kid" {
					e.KID = s
				} else {
					e.HMAC = s
				}
			default:
				p.errorf(t, key, "unknown key %q (want kid and hmac)", k)
				return
			}
		}
		if e.KID == "" || e.HMAC == "" {
			p.errorf(t, key, "needs both kid and hmac")
			return
		}
		c.eab = &e
	default:
		p.wantType(t, key, "{kid = \"...\", hmac = \"...\"}, a JSON file path or \"none\"", v)
	}
}

// readEABFile reads mod_md's EAB JSON file {"kid": ..., "hmac": ...}.
func readEABFile(path string) (*md.EAB, error) {
	data, err := fsread.ReadFile(path, maxEABFile)
	var fe *fsread.Error
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("file not found: %s", path)
	case errors.As(err, &fe):
		return nil, fmt.Errorf("error reading JSON file %s: %s", path, fe.Reason)
	case err != nil:
		return nil, fmt.Errorf("error reading JSON file %s: %v", path, unwrapPath(err))
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("error reading JSON file %s", path)
	}
	kid, _ := raw["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("JSON does not contain 'kid' element in file %s", path)
	}
	hmac, _ := raw["hmac"].(string)
	if hmac == "" {
		return nil, fmt.Errorf("JSON does not contain 'hmac' element in file %s", path)
	}
	return &md.EAB{KID: kid, HMAC: hmac}, nil
}

func setProfile(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		p.errorf(t, key, "invalid profile name %q", s)
		return
	}
	c.profile = &s
}

func setProxy(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if e := httpURICheck(s); e != "" {
		p.errorf(t, key, "%s", e)
		return
	}
	c.proxy = &s
}

func setCAFile(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		s, ok := p.str(t, key, v)
		if !ok {
			return
		}
		if s == "" {
			p.errorf(t, key, "empty path")
			return
		}
		if !strings.EqualFold(s, "none") {
			s = p.abs(s)
		} else {
			s = "none"
		}
		*field(c) = &s
	}
}

func setFiles(field func(*conf) *[]string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		var list []string
		if s, ok := v.(string); ok {
			list = []string{s}
		} else {
			var ok bool
			if list, ok = p.strList(t, key, v, false); !ok {
				return
			}
		}
		if len(list) == 0 {
			p.errorf(t, key, "needs at least one file")
			return
		}
		out := make([]string, 0, len(list))
		for _, s := range list {
			if s == "" {
				p.errorf(t, key, "empty path")
				return
			}
			out = append(out, p.abs(s))
		}
		*field(c) = out
	}
}

// setParsed stores a string that parse accepted (parse reports its own
// errors): paths, listen addresses, user/group names, file modes.
func setParsed(parse func(*parser, *table, string, any) (string, bool), field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		if s, ok := parse(p, t, key, v); ok {
			*field(c) = &s
		}
	}
}

func setPath(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).path, field)
}

func setListen(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).listenAddr, field)
}

func setAccount(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).account, field)
}

func setMode(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).fileMode, field)
}

func setStoreDir(p *parser, t *table, key string, v any, c *conf) {
	if s, ok := v.(string); ok && strings.HasPrefix(s, "etcd://") {
		c.settings.StoreDir = s // an etcd store, not a path
		return
	}
	if s, ok := p.path(t, key, v); ok {
		c.settings.StoreDir = s
	}
}

func setCmd(field func(*conf) *[]string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		if args, ok := p.argv(t, key, v); ok {
			*field(c) = args
		}
	}
}

func setDNS01Version(p *parser, t *table, key string, v any, c *conf) {
	n, ok := p.integer(t, key, v)
	if !ok {
		return
	}
	if n != 1 && n != 2 {
		p.errorf(t, key, "Only versions `1` and `2` are supported")
		return
	}
	c.settings.DNS01Version = n
}

func setPortMap(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	maps := strings.Fields(s)
	if len(maps) == 0 || len(maps) > 2 {
		p.errorf(t, key, "want one or two mappings like \"http:80 https:443\"")
		return
	}
	pm := md.DefaultPortMap
	for _, m := range maps {
		if err := parsePortMap(m, &pm); err != nil {
			p.errorf(t, key, "%v", err)
			return
		}
	}
	c.portMap = &pm
}

// parsePortMap parses one MDPortMap argument with mod_md's rules and texts.
func parsePortMap(s string, pm *md.PortMap) error {
	var net string
	var rest string
	switch {
	case strings.HasPrefix(s, "http:"):
		net, rest = "80", s[len("http:"):]
	case strings.HasPrefix(s, "https:"):
		net, rest = "443", s[len("https:"):]
	default:
		i := strings.IndexByte(s, ':')
		if i < 0 {
			j := 0
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == 0 {
				return errors.New("unable to parse first port number")
			}
			return errors.New("no ':' after first port number")
		}
		net, rest = s[:i], s[i+1:]
		if _, err := strconv.Atoi(net); err != nil {
			return errors.New("unable to parse first port number")
		}
	}
	local := 0
	if !strings.HasPrefix(rest, "-") {
		n, err := strconv.Atoi(rest)
		if err != nil {
			return errors.New("unable to parse second port number")
		}
		if n <= 0 || n > 65535 {
			return errors.New("invalid number for port map, must be in ]0,65535]")
		}
		local = n
	}
	switch net {
	case "80":
		pm.HTTP = local
	case "443":
		pm.HTTPS = local
	default:
		return errors.New("mapped port number must be 80 or 443")
	}
	return nil
}

func setRetryDelay(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	d, err := md.ParseDuration(s, time.Second)
	if err != nil {
		p.errorf(t, key, "unrecognized duration format")
		return
	}
	if d <= 0 {
		p.errorf(t, key, "minimum delay must be greater than 0")
		return
	}
	c.settings.RetryDelay = md.FormatDuration(d)
}

func setRetryFailover(p *parser, t *table, key string, v any, c *conf) {
	n, ok := p.integer(t, key, v)
	if !ok {
		return
	}
	if n <= 0 {
		p.errorf(t, key, "invalid argument, must be a number > 0")
		return
	}
	c.settings.RetryFailover = n
}

func setActivationDelay(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	d, err := md.ParseDuration(s, md.Day)
	if err != nil {
		p.errorf(t, key, "unrecognized duration format")
		return
	}
	c.settings.ActivationDelay = md.FormatDuration(d)
}

func setCheckInterval(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	d, err := md.ParseDuration(s, time.Second)
	if err != nil {
		p.errorf(t, key, "unrecognized duration format")
		return
	}
	if d < time.Second {
		p.errorf(t, key, "check interval cannot be less than one second")
		return
	}
	c.settings.CheckInterval = md.FormatDuration(d)
}

func setStaplingWindow(field func(*conf) *string, limit bool) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		s, ok := p.str(t, key, v)
		if !ok {
			return
		}
		ts, err := md.ParseTimeslice(s, md.Day)
		if err != nil && !(errors.Is(err, md.ErrWindowTooLarge) && !limit) {
			p.errorf(t, key, "%v", err)
			return
		}
		if err != nil { // keep-response accepts 100% and more of its 7d norm
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
			ts = md.Timeslice{Percent: n, IsPercent: true}
		}
		*field(c) = ts.String()
	}
}
