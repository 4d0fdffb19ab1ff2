// Package tomlconf reads md.toml, the configuration file for hosts without
// Apache: global defaults plus one [[domain]] table per MD, with the same
// settings and semantics as mod_md's MD* directives.
//
// The file is decoded with BurntSushi/toml into plain values and then
// checked key by key against a table of known keys (keyDefs), so that every
// problem, unknown keys and wrong types included, is reported at once with
// the line it is on (see lineIndex for why the lines come from a scan of
// our own). The result is the same md.Record shape md-parse produces for an
// Apache config: mod_md's md.json fields with mod_md's defaults, plus
// source, settings and host.
package tomlconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/renew"
)

// MaxFileSize bounds md.toml: larger files are refused before parsing. It
// is the per-file bound of Apache configs (md-parse(1)), which holds
// MaxDomains tables of a few names each (TestMaxDomainsFit).
const MaxFileSize = 32 << 20

// MaxDomains bounds the number of [[domain]] tables: twice the 100,000
// MDs mdtools is measured at (issue 17), so that a host that grows past
// them is not refused on the day it adds one more.
const MaxDomains = 200000

// Load reads md.toml at path. Problems come back as md.ConfigErrors, all
// of them, each "file:line: message".
func Load(path string) (*md.ParsedConfig, error) { return LoadRecorded(path, nil) }

// LoadRecorded is Load that records in inputs every file it reads
// (md-parse's run memo); nil records nothing.
func LoadRecorded(path string, inputs *memo.Inputs) (*md.ParsedConfig, error) {
	inputs.Path(path)
	data, err := fsread.ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, md.ConfigErrors{{File: path, Msg: readError(err)}}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, md.ConfigErrors{{File: path, Msg: err.Error()}}
	}
	return parse(path, dir, data, inputs)
}

// readError is the message for a file that could not be read, without
// the path (the ConfigError carries it).
func readError(err error) string {
	var fe *fsread.Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return fmt.Sprintf("reading config: %v", unwrapPath(err))
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parser carries the state of one Load.
type parser struct {
	file  string // as given, for messages and record sources
	dir   string // absolute directory of the file, for relative paths
	lines lineIndex
	errs  md.ConfigErrors
	warns md.ConfigErrors
	in    *memo.Inputs // files read (nil: not recorded)
	known []knownAt    // tables read as blank lines (Tables.ParseWithout), in file order
	reach md.Reachable // of all tables, once built
}

// parse reads md.toml content; dir resolves relative paths.
func parse(file, dir string, data []byte, inputs *memo.Inputs) (*md.ParsedConfig, error) {
	p := &parser{file: file, dir: dir, in: inputs}
	return p.parse(data)
}

// parse reads md.toml content (see parse).
func (p *parser) parse(data []byte) (*md.ParsedConfig, error) {
	file := p.file
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, md.ConfigErrors{{File: file, Line: pe.Position.Line, Msg: pe.Message}}
		}
		return nil, md.ConfigErrors{{File: file, Msg: err.Error()}}
	}
	p.lines = indexLines(string(data))

	var global conf
	var domains []*conf
	var domainTables []*table
	top := &table{ctx: "", m: raw}
	for _, k := range p.sortedKeys(top) {
		v := raw[k]
		switch k {
		case "global":
			m, ok := v.(map[string]any)
			if !ok {
				p.errorf(top, k, "want a table: write [global], got %s", typeName(v))
				continue
			}
			p.readTable(&table{ctx: "global", m: m}, inGlobal, &global)
		case "domain":
			for i, m := range p.domainList(top, k, v) {
				t := &table{ctx: "domain." + strconv.Itoa(i), m: m}
				c := &conf{}
				p.readTable(t, inDomain, c)
				domains = append(domains, c)
				domainTables = append(domainTables, t)
			}
		default:
			p.misplacedTop(top, k, v)
		}
	}

	pc := p.build(&global, domains, domainTables)
	if len(p.errs) > 0 {
		sortErrs(p.errs)
		return nil, p.errs
	}
	sortErrs(p.warns)
	pc.Warnings = []md.ConfigError(p.warns)
	return pc, nil
}

// domainList returns the [[domain]] tables of top-level key k (value v);
// anything else there is an error, and too many tables give none at all
// (MaxDomains bounds the work a config can ask for).
func (p *parser) domainList(top *table, k string, v any) []map[string]any {
	var list []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		list = x
	case []any:
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				p.errorf(top, k, "element %d: want a table, got %s", i+1, typeName(e))
				continue
			}
			list = append(list, m)
		}
	case map[string]any:
		p.errorf(top, k, "want an array of tables: write [[domain]], not [domain]")
		return nil
	default:
		p.errorf(top, k, "want an array of tables [[domain]], got %s", typeName(v))
		return nil
	}
	if len(list) > MaxDomains {
		p.errorf(top, k, "%d [[domain]] tables; an md.toml may have at most %d (split the MDs over several md.toml files, each with its own store-dir)", len(list), MaxDomains)
		return nil
	}
	return list
}

// misplacedTop reports a top-level key other than global and domain: an
// unknown table, a setting outside its table, or an unknown key.
func (p *parser) misplacedTop(top *table, k string, v any) {
	switch v.(type) {
	case map[string]any: // [k]
		p.errs.Add(p.file, p.lines.line("", k), "%s", tableHint(k, false))
	case []map[string]any: // [[k]]
		p.errs.Add(p.file, p.lines.line("", k), "%s", tableHint(k, true))
	default:
		if def := keyByName[k]; def != nil {
			p.errorf(top, k, "must be inside [global] or a [[domain]] table")
		} else {
			p.errorf(top, k, "unknown key%s", hint(k, inBoth))
		}
	}
}

// sortedKeys returns a table's keys in file order.
func (p *parser) sortedKeys(t *table) []string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := p.lines.line(t.ctx, keys[i]), p.lines.line(t.ctx, keys[j])
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

func sortErrs(es md.ConfigErrors) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}

// readTable checks and reads the keys of one table into c.
func (p *parser) readTable(t *table, sc scope, c *conf) {
	for _, k := range p.sortedKeys(t) {
		def := keyByName[k]
		switch {
		case def == nil:
			p.errorf(t, k, "unknown key%s", hint(k, sc))
		case def.scope&sc == 0 && sc == inDomain:
			p.errorf(t, k, "only allowed in [global] (it applies to all domains)")
		case def.scope&sc == 0:
			p.errorf(t, k, "only allowed in a [[domain]] table")
		default:
			def.set(p, t, k, t.m[k], c)
		}
	}
}

// hint suggests the key meant by a near miss: underscores or upper case,
// an Apache directive name, else the nearest key allowed in the table
// (sc) by edit distance ("renew-windw", "contact-emial").
func hint(k string, sc scope) string {
	cand := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
	if keyByName[cand] != nil {
		return fmt.Sprintf(" (did you mean %q?)", cand)
	}
	for _, d := range keyDefs {
		if d.directive != "" && strings.EqualFold(d.directive, k) {
			return fmt.Sprintf(" (md.toml spells %s as %q)", d.directive, d.name)
		}
	}
	var names, elsewhere, directives []string
	for _, d := range keyDefs {
		if d.scope&sc != 0 {
			names = append(names, d.name)
		} else {
			elsewhere = append(elsewhere, d.name)
		}
		if d.directive != "" {
			directives = append(directives, strings.ToLower(d.directive))
		}
	}
	if strings.HasPrefix(strings.ToLower(k), "md") { // a misspelt directive
		if n := nearest(k, directives); n != "" {
			for _, d := range keyDefs {
				if strings.EqualFold(d.directive, n) {
					return fmt.Sprintf(" (did you mean %s? md.toml spells it %q)", d.directive, d.name)
				}
			}
		}
	}
	if n := nearest(k, names); n != "" {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	if n := nearest(k, elsewhere); n != "" {
		where := "[global]"
		if keyByName[n].scope == inDomain {
			where = "a [[domain]] table"
		}
		return fmt.Sprintf(" (did you mean %q? it is only allowed in %s)", n, where)
	}
	return ""
}

// tableHint is the message for a top-level table other than [global] and
// [[domain]], with the one it most likely meant.
func tableHint(k string, array bool) string {
	open, closing := "[", "]"
	if array {
		open, closing = "[[", "]]"
	}
	msg := open + k + closing + ": unknown table"
	switch nearest(k, []string{"global", "domain"}) {
	case "global":
		return msg + " (did you mean [global]?)"
	case "domain":
		return msg + " (did you mean [[domain]]?)"
	}
	return msg + " (md.toml has [global] and [[domain]] tables)"
}

// build merges [global] into each [[domain]] and makes the records.
func (p *parser) build(g *conf, domains []*conf, tables []*table) *md.ParsedConfig {
	pm := md.DefaultPortMap
	if g.portMap != nil {
		pm = *g.portMap
	}
	settings := g.settings
	if g.portMap != nil {
		settings.PortMap = g.portMap
	}
	// the global values of settings mod_md keeps server-wide; each record's
	// md.json fields below carry the value in effect for that MD
	settings.HTTPProxy = deref(g.proxy, "")
	settings.DNS01Cmd = g.dns01
	settings.CACerts = deref(g.caCerts, "")
	settings.ProxyCACerts = deref(g.proxyCACerts, "")
	reach := &md.Reachable{}
	settings.Reachable = reach

	p.checkGlobalHost(g, &pm)

	pc := &md.ParsedConfig{StoreDir: settings.StoreDir}
	ov := overlaps{p: p, seen: map[string]int{}}
	known := p.known
	var recs []*md.Record
	for i, d := range domains {
		t := tables[i]
		if d.domains == nil {
			if _, present := t.m["domains"]; !present {
				p.errorf(t, "", "[[domain]] needs domains = [\"example.org\", ...]")
			}
			continue
		}
		p.checkHostKeys(t, d)
		rec := p.record(g, d, t, &pm, reach)
		// the decoded table and the table's conf (900 bytes) are garbage
		// from here on, not after the last record: over 100,000 MDs
		// they were 130 MB live beside the records
		t.m, domains[i] = nil, nil
		line := rec.Source.Line
		for len(known) > 0 && known[0].line < line {
			ov.add(known[0].line, known[0].Names, nil)
			known = known[1:]
		}
		ov.add(line, rec.Domains, t)
		recs = append(recs, rec)
	}
	for _, k := range known {
		ov.add(k.line, k.Names, nil)
	}
	for _, k := range p.known {
		*reach = reach.Or(k.Reach)
	}
	p.reach = *reach
	// one Settings for all: they are global in an md.toml, and nothing
	// changes a record's Settings in place (a copy per record was 40 MB
	// over 100,000 MDs)
	for _, r := range recs {
		r.Settings = &settings
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	pc.Records = recs
	return pc
}

// overlaps checks the names of the MDs in file order as mod_md's
// merge_mds_with_conf does: a name of an MD that an earlier MD contains
// (md_contains: equal, or matched by its wildcard) is an error.
type overlaps struct {
	p    *parser
	seen map[string]int // names of the MDs so far -> the line of their table
}

// add checks and adds the names of the MD whose table (t, nil for a known
// one) starts at line.
func (o *overlaps) add(line int, names []string, t *table) {
	reported := map[int]bool{}
	for _, name := range names {
		first, dup := o.seen[name]
		if !dup {
			if k := strings.IndexByte(name, '.'); k > 0 {
				first, dup = o.seen["*"+name[k:]]
			}
		}
		if dup && !reported[first] {
			reported[first] = true
			msg := fmt.Sprintf("two Managed Domains have an overlap in domain '%s', first definition in %s(line %d), second in %s(line %d)",
				name, o.p.file, first, o.p.file, line)
			if t != nil {
				o.p.errorf(t, "domains", "%s", msg)
			} else {
				o.p.errs.Add(o.p.file, line, "%s", msg)
			}
		}
	}
	for _, name := range names {
		if _, ok := o.seen[name]; !ok {
			o.seen[name] = line
		}
	}
}

// checkHostKeys complains about deploy ownership set without a deploy
// directory in the same table.
func (p *parser) checkHostKeys(t *table, c *conf) {
	if c.deployDir != nil {
		return
	}
	for _, k := range []struct {
		name string
		v    *string
	}{{"owner", c.owner}, {"group", c.group}, {"mode", c.mode}, {"key-mode", c.keyMode}} {
		if k.v != nil {
			p.errorf(t, k.name, "needs deploy-dir (here or in [global])")
		}
	}
}

// checkGlobalHost warns once about [global] host settings that cannot work.
func (p *parser) checkGlobalHost(g *conf, pm *md.PortMap) {
	t := &table{ctx: "global"}
	p.checkListeners(t, g, pm)
	if g.keyMode != nil {
		p.checkKeyMode(t, *g.keyMode)
	}
}

// checkListeners warns about listeners on ports the CA does not connect to.
func (p *parser) checkListeners(t *table, c *conf, pm *md.PortMap) {
	if c.httpListen != nil {
		if port := addrPort(*c.httpListen); pm.HTTP == 0 || port != pm.HTTP {
			p.warnf(t, "http-listen", "port %d is not where the CA connects for http-01 (port-map http:%s); set port-map = \"http:%d\" if port 80 is forwarded there",
				port, portText(pm.HTTP), port)
		}
	}
	if c.tlsListen != nil {
		if port := addrPort(*c.tlsListen); pm.HTTPS == 0 || port != pm.HTTPS {
			p.warnf(t, "tls-listen", "port %d is not where the CA connects for tls-alpn-01 (port-map https:%s); set port-map = \"https:%d\" if port 443 is forwarded there",
				port, portText(pm.HTTPS), port)
		}
	}
}

func (p *parser) checkKeyMode(t *table, km string) {
	if n, err := strconv.ParseUint(km, 8, 32); err == nil && n&0o007 != 0 {
		p.warnf(t, "key-mode", "%s makes private keys readable by every user", km)
	}
}

func pick[T any](d, g *T) *T {
	if d != nil {
		return d
	}
	return g
}

func pickList[T any](d, g []T) []T {
	if d != nil {
		return d
	}
	return g
}

func deref[T any](v *T, def T) T {
	if v != nil {
		return *v
	}
	return def
}

// record makes one MD record from a [[domain]] table over [global].
func (p *parser) record(g, d *conf, t *table, pm *md.PortMap, reach *md.Reachable) *md.Record {
	m := mergeMD(g, d)
	p.checkStaticFiles(t, &m)
	provisionalState(&m)
	h := p.hostConfig(g, d, t, m.Name)
	p.checkListeners(t, d, pm)
	answers := reachability(&m, h, pm, reach)
	p.warnChallenges(t, &m, answers)
	return &md.Record{
		MD:     m,
		Source: &md.Source{File: p.file, Line: p.lines.line(t.ctx, "")},
		Host:   h,
	}
}

// mergeMD makes the MD of a [[domain]] table: each setting from the
// table, else from [global], else mod_md's default.
func mergeMD(g, d *conf) md.MD {
	domains := d.domains
	m := md.MD{
		Name:             domains[0],
		Domains:          domains,
		Contacts:         pickList(d.contacts, g.contacts),
		Transitive:       deref(pick(d.transitive, g.transitive), 1),
		CA:               &md.CA{Proto: deref(pick(d.caProto, g.caProto), md.ProtoACME)},
		PrivKey:          pickList(d.privKeys, g.privKeys),
		RenewMode:        deref(pick(d.renewMode, g.renewMode), md.RenewAuto),
		RenewWindow:      pick(d.renewWindow, g.renewWindow),
		WarnWindow:       pick(d.warnWindow, g.warnWindow),
		RequireHTTPS:     deref(pick(d.requireHTTPS, g.requireHTTPS), ""),
		MustStaple:       deref(pick(d.mustStaple, g.mustStaple), false),
		Stapling:         deref(pick(d.stapling, g.stapling), false),
		Profile:          deref(pick(d.profile, g.profile), ""),
		ProfileMandatory: deref(pick(d.profileMandatory, g.profileMandatory), false),
		ARIRenewals:      deref(pick(d.ari, g.ari), true),
		ReuseKey:         deref(pick(d.reuseKey, g.reuseKey), false),
		PreferredChain:   deref(pick(d.preferredChain, g.preferredChain), ""),
		CACerts:          deref(pick(d.caCerts, g.caCerts), ""),
		ProxyCACerts:     deref(pick(d.proxyCACerts, g.proxyCACerts), ""),
		CertFiles:        d.certFiles,
		PKeyFiles:        d.keyFiles,
	}
	m.CA.URLs = pickList(d.caURLs, g.caURLs)
	m.CA.Agreement = deref(pick(d.agreement, g.agreement), "")
	m.CA.Challenges = pickList(d.challenges, g.challenges)
	m.ApplyDefaults()
	m.ProxyURL = deref(pick(d.proxy, g.proxy), "")
	if cmd := pickList(d.dns01, g.dns01); len(cmd) > 0 {
		m.CmdDNS01 = quoteArgv(cmd)
	}
	if e := pick(d.eab, g.eab); e != nil && e.KID != "none" {
		c := *e
		m.EAB = &c
	}
	return m
}

// checkStaticFiles wants one key file per static certificate file
// (MDCertificateFile / MDCertificateKeyFile), in mod_md's words.
func (p *parser) checkStaticFiles(t *table, m *md.MD) {
	if len(m.CertFiles) > 0 {
		if len(m.PKeyFiles) != len(m.CertFiles) {
			p.errorf(t, "certificate-key-file", "The Managed Domain '%s' needs one MDCertificateKeyFile for each MDCertificateFile.", m.Name)
		}
	} else if len(m.PKeyFiles) > 0 {
		p.errorf(t, "certificate-key-file", "The Managed Domain '%s' has MDCertificateKeyFile(s) but no MDCertificateFile.", m.Name)
	}
}

// provisionalState sets the state apacheconf gives too; the store sync
// replaces it with mod_md's state_init result from the stored
// certificates. Static files are read here, as they live outside the store.
func provisionalState(m *md.MD) {
	m.State = md.StateIncomplete
	m.StateDescr = fmt.Sprintf("certificate(%s) is missing", m.PrivKey.Effective()[0].Name())
	if len(m.CertFiles) > 0 {
		m.State, m.StateDescr, _ = renew.StoredState(context.Background(), nil, "", m)
	}
}

// hostConfig makes the MD's host settings (nil when there are none); a
// global deploy-dir gets one subdirectory per MD.
func (p *parser) hostConfig(g, d *conf, t *table, name string) *md.HostConfig {
	h := &md.HostConfig{
		Webroot:    deref(pick(d.webroot, g.webroot), ""),
		HTTPListen: deref(pick(d.httpListen, g.httpListen), ""),
		TLSListen:  deref(pick(d.tlsListen, g.tlsListen), ""),
		HTTPSAddr:  deref(pick(d.httpsAddr, g.httpsAddr), ""),
	}
	switch {
	case d.deployDir != nil:
		h.Deploy = &md.Deploy{Dir: *d.deployDir}
	case g.deployDir != nil:
		h.Deploy = &md.Deploy{Dir: filepath.Join(*g.deployDir, name)}
	}
	if h.Deploy != nil {
		h.Deploy.Owner = deref(pick(d.owner, g.owner), "")
		h.Deploy.Group = deref(pick(d.group, g.group), "")
		h.Deploy.Mode = deref(pick(d.mode, g.mode), "")
		h.Deploy.KeyMode = deref(pick(d.keyMode, g.keyMode), "")
		if d.keyMode != nil {
			p.checkKeyMode(t, *d.keyMode)
		}
	}
	if *h == (md.HostConfig{}) {
		return nil
	}
	return h
}

// reachability sets the names tls-alpn-01 may answer for and marks the
// ports the MD's listeners make reachable; it says whether the host
// settings answer some challenge at all.
func reachability(m *md.MD, h *md.HostConfig, pm *md.PortMap, reach *md.Reachable) (answers bool) {
	m.Proto.ACMETLS1 = []string{}
	if h == nil {
		return false
	}
	*reach = reach.Or(hostReach(h, pm))
	if h.TLSListen != "" {
		m.Proto.ACMETLS1 = append([]string(nil), m.Domains...)
	}
	return h.Webroot != "" || h.HTTPListen != "" || h.TLSListen != ""
}

// hostReach is what an MD's host settings make reachable: port 80 by a
// webroot or a listener on it, port 443 by a listener on it.
func hostReach(h *md.HostConfig, pm *md.PortMap) md.Reachable {
	var r md.Reachable
	if h == nil {
		return r
	}
	if h.Webroot != "" && pm.HTTP != 0 {
		r.HTTP = true
	}
	if h.HTTPListen != "" && pm.HTTP != 0 && addrPort(h.HTTPListen) == pm.HTTP {
		r.HTTP = true
	}
	if h.TLSListen != "" && pm.HTTPS != 0 && addrPort(h.TLSListen) == pm.HTTPS {
		r.HTTPS = true
	}
	return r
}

// warnChallenges warns of an MD that cannot be validated as configured:
// no way to answer any challenge, or a wildcard without dns-01.
func (p *parser) warnChallenges(t *table, m *md.MD, answers bool) {
	if !answers && m.CmdDNS01 == "" && len(m.CA.Challenges) == 0 && len(m.CertFiles) == 0 {
		p.warnf(t, "", "%s has no way to answer an ACME challenge: set webroot, http-listen, tls-listen or challenge-dns01 (or run md-order --http-listen or --tls-listen)", m.Name)
	}
	if m.CmdDNS01 == "" && len(m.CertFiles) == 0 {
		for _, n := range m.Domains {
			if md.IsWildcard(n) {
				p.warnf(t, "domains", "%s is a wildcard name: CAs validate it only with dns-01, which needs challenge-dns01", n)
				break
			}
		}
	}
}

func portText(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}
