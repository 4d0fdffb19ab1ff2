package apacheconf

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
)

// built is one MD while mod_md's post-config steps run on it.
type built struct {
	def      *mdDef
	m        md.MD
	contacts []string
	servers  []*server // matched servers, in httpd's order
}

// model derives the MD records from the config as mod_md's
// md_post_config_before_ssl / after_ssl do.
func (r *reader) model(cfg *config) []*md.Record {
	mc := &cfg.mc
	// httpd links <VirtualHost>s in front of the base server's list, so it
	// walks them last-defined first.
	servers := []*server{cfg.base}
	for i := len(cfg.vhosts) - 1; i >= 0; i-- {
		servers = append(servers, cfg.vhosts[i])
	}
	r.fixupServers(cfg)

	// 1. reachability (detect_supported_protocols)
	canHTTP, canHTTPS := reachability(cfg)

	// 2. complete the MDs from the base server (merge_mds_with_conf)
	mds, failed := r.mergeMDs(cfg)

	// 3. link MDs to servers (link_md_to_servers)
	ix := newServerIndex(servers)
	for _, b := range mds {
		r.link(b, ix, mc)
	}

	// 4. more than one MD on an SSL vhost (check_invalid_duplicates)
	for _, s := range servers {
		if s.ssl && len(s.assigned) > 1 {
			r.errorf(s.file, s.line, "conflict: %d MDs match to SSL VirtualHost %s, there can at most be one.", len(s.assigned), s.hostname)
		}
	}

	// 5. auto-add names, acme-tls/1 domains, usage (md_post_config_after_ssl)
	var recs []*md.Record
	for _, b := range mds {
		if rec := r.finishMD(b, cfg, servers, canHTTP, canHTTPS, failed[b.def]); rec != nil {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	return recs
}

// reachability tells whether the server listens on the ports the CA
// reaches for http-01 and tls-alpn-01 (MDPortMap applied).
func reachability(cfg *config) (canHTTP, canHTTPS bool) {
	for _, l := range cfg.listeners {
		if !strings.HasPrefix(l.protocol, "http") {
			continue
		}
		if l.port == cfg.mc.local80 {
			canHTTP = true
		} else if l.port == cfg.mc.local443 {
			canHTTPS = true
		}
	}
	return canHTTP, canHTTPS
}

// mergeMDs completes every MD definition from the base server and
// reports the definitions that fail (overlapping another MD).
func (r *reader) mergeMDs(cfg *config) ([]*built, map[*mdDef]bool) {
	mc := &cfg.mc
	var mds []*built
	failed := map[*mdDef]bool{}
	first := map[string]int{} // domain -> index of the first MD listing it
	for i, def := range cfg.mds {
		b := &built{def: def}
		r.merge(b, cfg.base, mc)
		if !mc.matchServerNames && r.overlaps(b, mds, first) {
			failed[def] = true
		}
		for _, x := range b.m.Domains {
			if _, ok := first[x]; !ok {
				first[x] = i
			}
		}
		r.checkDefinition(b)
		mds = append(mds, b)
	}
	return mds, failed
}

// overlaps reports (as an error) the first earlier MD that shares a
// domain with b.
func (r *reader) overlaps(b *built, mds []*built, first map[string]int) bool {
	j := -1
	name := ""
	for _, x := range b.m.Domains {
		for _, key := range []string{x, wildParent(x)} {
			if k, ok := first[key]; ok && key != "" && (j < 0 || k < j) && mdContains(mds[k].m.Domains, x) {
				j, name = k, x
			}
		}
		if j >= 0 {
			break
		}
	}
	if j < 0 {
		return false
	}
	def, o := b.def, mds[j]
	r.errorf(def.file, def.line, "two Managed Domains have an overlap in domain '%s', first definition in %s(line %d), second in %s(line %d)",
		name, def.file, def.line, o.def.file, o.def.line)
	return true
}

// checkDefinition checks one merged MD: static files paired, the CA
// protocol, the names.
func (r *reader) checkDefinition(b *built) {
	def := b.def
	if len(def.certFiles) > 0 {
		if len(def.keyFiles) != len(def.certFiles) {
			r.errorf(def.file, def.line, "The Managed Domain '%s' needs one MDCertificateKeyFile for each MDCertificateFile.", b.m.Name)
		}
	} else if len(def.keyFiles) > 0 {
		r.errorf(def.file, def.line, "The Managed Domain '%s' has MDCertificateKeyFile(s) but no MDCertificateFile.", b.m.Name)
	}
	if !strings.EqualFold(b.m.CA.Proto, md.ProtoACME) {
		r.errorf(def.file, def.line, "[%s] uses unknown CA protocol '%s'", b.m.Name, b.m.CA.Proto)
	}
	for _, d := range b.m.Domains {
		if err := md.ValidateDomain(d); err != nil {
			r.errorf(def.file, def.line, "%v", err)
		}
	}
}

// finishMD auto-adds names, finds the acme-tls/1 domains, warns about
// unused MDs and checks the challenges, then builds the record (none
// for a definition that failed).
func (r *reader) finishMD(b *built, cfg *config, servers []*server, canHTTP, canHTTPS, failed bool) *md.Record {
	mc := &cfg.mc
	r.autoAdd(b)
	b.m.Proto.ACMETLS1 = r.acmeTLS1Domains(b, servers, mc, canHTTPS)
	used, hasSSL := false, false
	for _, s := range b.servers {
		if slices.Contains(s.assigned, b.def) {
			used = true
			hasSSL = hasSSL || s.ssl
		}
	}
	if !hasSSL && b.m.RequireHTTPS != "" {
		r.warnf(b.def.file, b.def.line, "MD %s does not match any VirtualHost with 'SSLEngine on', but is configured to require https. This cannot work.", b.m.Name)
	}
	if !used && b.m.RenewMode != md.RenewAlways {
		r.warnf(b.def.file, b.def.line, "No VirtualHost matches Managed Domain %s", b.m.Name)
	}
	if b.m.RenewMode != md.RenewManual && (used || b.m.RenewMode == md.RenewAlways) {
		r.checkChallenges(b, mc, canHTTP, canHTTPS)
	}
	if failed {
		return nil
	}
	rec := r.record(b, cfg, canHTTP, canHTTPS)
	// mod_md's "watched": an auto MD that no vhost uses is left alone.
	watched := used || rec.RenewMode != md.RenewAuto
	rec.Watched = &watched
	return rec
}

// fixupServers completes vhosts as httpd does: inherited ServerAdmin and
// Protocols, and a ServerName from the address or the base server.
func (r *reader) fixupServers(cfg *config) {
	base := cfg.base
	if !base.hostnameSet {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		base.hostname = strings.ToLower(h)
	}
	if !base.adminSet {
		base.admin = defaultAdmin
	}
	for _, v := range cfg.vhosts {
		if !v.hostnameSet {
			if len(v.addrs) > 0 && v.addrs[0].host != "*" && v.addrs[0].host != "_default_" {
				v.hostname = v.addrs[0].host
			} else {
				v.hostname = base.hostname
			}
		}
		if !v.adminSet {
			v.admin = base.admin
		}
		if !v.protoSet {
			v.protocols = base.protocols
		}
		if !v.sslSet {
			v.ssl = base.ssl // mod_ssl merges SSLEngine from the base server
		}
	}
}

// mdContains is md_contains: listed, or covered by a wildcard in the list.
func mdContains(domains []string, name string) bool {
	if containsFold(domains, name) {
		return true
	}
	for _, d := range domains {
		if md.DomainMatches(d, name) {
			return true
		}
	}
	return false
}

// merge is md_create + srv_conf_props_apply (section) + merge_srv_config
// (base server) + acme_complete_md + state_init's defaults.
func (r *reader) merge(b *built, base *server, mc *modConf) {
	def := b.def
	sp, bp := &def.props, base.props
	m := &b.m
	m.Domains = append([]string{}, def.domains.Names()...)
	m.Name = m.Domains[0]

	m.Transitive = 1
	switch {
	case def.transitive >= 0:
		m.Transitive = def.transitive
	case bp.transitive != nil:
		m.Transitive = *bp.transitive
	}
	m.CA = mergeCA(sp, bp)
	if c := mergeContact(sp, bp, base); c != "" {
		b.contacts = []string{md.Schemify(c, "mailto")}
	}

	m.RenewMode = md.RenewAuto
	if v := firstInt(sp.renewMode, bp.renewMode); v != nil {
		m.RenewMode = *v
	}
	m.RenewWindow = firstTimeslice(sp.renewWindow, bp.renewWindow)
	m.WarnWindow = firstTimeslice(sp.warnWindow, bp.warnWindow)
	if sp.pks != nil {
		m.PrivKey = sp.pks
	} else if bp.pks != nil {
		m.PrivKey = bp.pks
	}
	if v := firstString(sp.requireHTTPS, bp.requireHTTPS); v != nil {
		m.RequireHTTPS = *v
	}
	m.MustStaple = boolOr(false, sp.mustStaple, bp.mustStaple)
	m.Stapling = boolOr(false, sp.stapling, bp.stapling)
	m.ProfileMandatory = boolOr(false, sp.profileMandatory, bp.profileMandatory)
	m.ARIRenewals = boolOr(true, sp.ariRenewals, bp.ariRenewals)
	m.Profile = firstNonEmpty(sp.profile, bp.profile)
	m.ReuseKey = boolOr(false, sp.reuseKey, bp.reuseKey)
	m.PreferredChain = firstNonEmpty(sp.preferredChain, bp.preferredChain)
	kid, hmac := sp.eabKID, sp.eabHMAC
	if kid == "" {
		kid, hmac = bp.eabKID, bp.eabHMAC
	}
	if kid != "" && kid != "none" {
		m.EAB = &md.EAB{KID: kid, HMAC: hmac}
	}
	m.CmdDNS01 = sp.dns01Cmd
	m.ProxyURL = sp.proxyURL
	m.CACerts = sp.caCerts
	m.ProxyCACerts = sp.proxyCACerts
	m.CertFiles = def.certFiles
	m.PKeyFiles = def.keyFiles
	m.Proto.ACMETLS1 = []string{}
	m.ApplyDefaults() // acme_complete_md and state_init's defaults
}

// mergeCA is the MD's CA settings: the section's, else the base server's.
func mergeCA(sp, bp *props) *md.CA {
	ca := &md.CA{}
	switch {
	case sp.caURLsSet:
		ca.URLs = append([]string{}, sp.caURLs...)
	case bp.caURLsSet:
		ca.URLs = append([]string{}, bp.caURLs...)
	}
	// ca.url is the CA in effect, which only ordering decides (failover);
	// mod_md writes none for a new MD and keeps the stored one on sync.
	ca.Proto = firstNonEmpty(sp.caProto, bp.caProto)
	ca.Agreement = firstNonEmpty(sp.caAgreement, bp.caAgreement)
	switch {
	case sp.caChallengesSet:
		ca.Challenges = append([]string{}, sp.caChallenges...)
	case bp.caChallengesSet:
		ca.Challenges = append([]string{}, bp.caChallenges...)
	}
	if len(ca.Challenges) == 0 {
		ca.Challenges = nil
	}
	return ca
}

// mergeContact is the MD's contact: MDContactEmail of the section, else of
// the base server, else a ServerAdmin other than Apache's default; "" when
// there is none.
func mergeContact(sp, bp *props, base *server) string {
	switch {
	case sp.contact != "":
		return sp.contact
	case bp.contact != "":
		return bp.contact
	case base.adminSet && base.admin != defaultAdmin && base.admin != "":
		return base.admin
	}
	return ""
}

// firstTimeslice returns a copy of the first window set, or nil.
func firstTimeslice(vs ...*md.Timeslice) *md.Timeslice {
	for _, v := range vs {
		if v != nil {
			w := *v
			return &w
		}
	}
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstInt(vs ...*int) *int {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func firstString(vs ...*string) *string {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func boolOr(def bool, vs ...*bool) bool {
	for _, v := range vs {
		if v != nil {
			return *v
		}
	}
	return def
}

// record builds the output record of one MD.
func (r *reader) record(b *built, cfg *config, canHTTP, canHTTPS bool) *md.Record {
	m := b.m
	if len(m.CertFiles) > 0 {
		// static files: judged as the store sync judges them (md-parse
		// --dry-run shows the same state)
		m.State, m.StateDescr, _ = renew.StoredState(context.Background(), nil, "", &m)
	} else {
		m.State = md.StateIncomplete
		m.StateDescr = fmt.Sprintf("certificate(%s) is missing", m.PrivKey.Effective()[0].Name())
	}
	rec := &md.Record{MD: m, Source: &md.Source{File: b.def.file, Line: b.def.line}}
	rec.Settings = r.settings(cfg, canHTTP, canHTTPS)
	// matched servers in config order
	var vs []md.Vhost
	matched := make([]*server, 0, len(b.servers))
	for _, s := range b.servers {
		if slices.Contains(s.assigned, b.def) {
			matched = append(matched, s)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool { return configOrder(matched[i]) < configOrder(matched[j]) })
	for _, s := range matched {
		v := md.Vhost{ServerName: s.hostname, SSL: s.ssl, Protocols: s.protocols,
			Source: &md.Source{File: s.file, Line: s.line}}
		v.Aliases = append(append(v.Aliases, s.names...), s.wildNames...)
		for _, a := range s.addrs {
			p := "*"
			if a.port != 0 {
				p = strconv.Itoa(a.port)
			}
			v.Addresses = append(v.Addresses, a.host+":"+p)
		}
		if s.base {
			v.Source = nil
		}
		vs = append(vs, v)
	}
	rec.Vhosts = vs
	return rec
}

// settings are the server-wide MD settings every record carries, worked
// out once.
func (r *reader) settings(cfg *config, canHTTP, canHTTPS bool) *md.Settings {
	// one Settings for all records, as in lib/tomlconf: they are
	// server-wide, and nothing changes a record's Settings in place
	if r.settingsCache != nil {
		return r.settingsCache
	}
	mc := &cfg.mc
	s := &md.Settings{
		PortMap:              &md.PortMap{HTTP: mc.local80, HTTPS: mc.local443},
		Reachable:            &md.Reachable{HTTP: canHTTP, HTTPS: canHTTPS},
		MessageCmd:           TokenizeArgv(mc.messageCmd),
		NotifyCmd:            TokenizeArgv(mc.notifyCmd),
		DNS01Version:         mc.dns01Version,
		ActivationDelay:      mc.activationDelay,
		RetryDelay:           mc.retryDelay,
		RetryFailover:        mc.retryFailover,
		CheckInterval:        mc.checkInterval,
		HTTPProxy:            mc.envProxyURL,
		StaplingRenewWindow:  mc.ocspRenew,
		StaplingKeepResponse: mc.ocspKeep,
		StapleOthers:         cfg.base.props.stapleOthers,
		CertificateStatus:    mc.certStatus,
		ServerStatus:         mc.serverStatus,
		BaseServer:           mc.baseServer,
		StoreLocks:           mc.storeLocks,
		MatchNames:           "all",
		DNS01Cmd:             TokenizeArgv(mc.envDNS01Cmd),
		CACerts:              mc.envCACerts,
		ProxyCACerts:         mc.envProxyCACerts,
		InitialDelay:         mc.initialDelay,
	}
	if mc.matchServerNames {
		s.MatchNames = "servernames"
	}
	if mc.certCheckName != "" {
		s.CertificateCheck = &md.CertCheck{Name: mc.certCheckName, URL: mc.certCheckURL}
	}
	if mc.storeDir != "" {
		s.StoreDir = r.relative(mc.storeDir)
	}
	r.settingsCache = s
	return s
}

// configOrder sorts the base server first, then vhosts by position.
func configOrder(s *server) int {
	if s.base {
		return -1
	}
	return s.seq
}

// wildParent is "*.parent" for a name, the wildcard that would cover it.
func wildParent(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		return "*" + name[i:]
	}
	return ""
}
