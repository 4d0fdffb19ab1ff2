package apacheconf

import (
	"slices"
	"sort"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// matchesVhost is httpd's ap_matches_request_vhost(r, host, s->port).
func matchesVhost(s *server, host string) bool {
	for _, a := range s.addrs {
		if strings.EqualFold(host, a.host) {
			return true
		}
	}
	if strings.EqualFold(host, s.hostname) {
		return true
	}
	for _, n := range s.names {
		if strings.EqualFold(host, n) {
			return true
		}
	}
	for _, n := range s.wildNames {
		if matchPattern(n, host, true) {
			return true
		}
	}
	return false
}

// isWildMatch is md_is_wild_match: a wildcard in domains matches name.
func isWildMatch(domains []string, name string) bool {
	for _, d := range domains {
		if md.IsWildcard(d) && md.DomainMatches(d, name) {
			return true
		}
	}
	return false
}

// serverIndex finds the servers a name can match without scanning all.
type serverIndex struct {
	order  map[*server]int
	byName map[string][]*server // hostname, ServerAlias and address, lower-cased
	byHost map[string][]*server // hostname only
	wild   []*server            // servers with wildcard ServerAlias
}

func newServerIndex(servers []*server) *serverIndex {
	names := 0
	for _, s := range servers {
		names += 1 + len(s.names) + len(s.addrs)
	}
	// sized up front: grown by doubling, the maps of 100,000 vhosts
	// allocated twice what they hold
	ix := &serverIndex{order: make(map[*server]int, len(servers)),
		byName: make(map[string][]*server, names), byHost: make(map[string][]*server, len(servers))}
	for i, s := range servers {
		ix.order[s] = i
		add := func(n string) {
			n = strings.ToLower(n)
			// a server's names are added one after the other, so a name
			// it already has ends its list (no set per server needed)
			if list := ix.byName[n]; len(list) == 0 || list[len(list)-1] != s {
				ix.byName[n] = append(list, s)
			}
		}
		add(s.hostname)
		for _, n := range s.names {
			add(n)
		}
		for _, a := range s.addrs {
			add(a.host)
		}
		h := strings.ToLower(s.hostname)
		ix.byHost[h] = append(ix.byHost[h], s)
		if len(s.wildNames) > 0 {
			ix.wild = append(ix.wild, s)
		}
	}
	return ix
}

// candidates are the servers that may match one of domains, in order.
func (ix *serverIndex) candidates(domains []string) []*server {
	set := map[*server]bool{}
	var out []*server
	add := func(ss []*server) {
		for _, s := range ss {
			if !set[s] {
				set[s] = true
				out = append(out, s)
			}
		}
	}
	for _, d := range domains {
		d = strings.ToLower(d)
		add(ix.byName[d])
		if md.IsWildcard(d) {
			// a wildcard matches hostnames one label below its parent
			for h, ss := range ix.byHost {
				if md.DomainMatches(d, h) {
					add(ss)
				}
			}
		}
	}
	add(ix.wild)
	sort.Slice(out, func(i, j int) bool { return ix.order[out[i]] < ix.order[out[j]] })
	return out
}

// link is link_md_to_servers.
func (r *reader) link(b *built, ix *serverIndex, mc *modConf) {
	for _, s := range ix.candidates(b.m.Domains) {
		if s.base && !mc.baseServer {
			continue
		}
		for _, domain := range b.m.Domains {
			wild := md.IsWildcard(domain)
			if !((!mc.matchServerNames && matchesVhost(s, domain)) ||
				((mc.matchServerNames || wild) && md.DomainMatches(domain, s.hostname))) {
				continue
			}
			if len(s.assigned) == 1 && mc.matchServerNames {
				existingWild := isWildMatch(s.assigned[0].domains.Names(), s.hostname)
				if !existingWild && wild {
					continue
				}
				if existingWild && !wild {
					s.assigned = s.assigned[:0]
				}
			}
			s.assigned = append(s.assigned, b.def)
			b.servers = append(b.servers, s)
			if len(b.contacts) == 0 {
				if s.props != nil && s.props.contact != "" {
					b.contacts = append(b.contacts, md.Schemify(s.props.contact, "mailto"))
				} else if s.admin != "" && s.admin != defaultAdmin {
					b.contacts = append(b.contacts, md.Schemify(s.admin, "mailto"))
				}
			}
			break
		}
	}
	b.m.Contacts = b.contacts
}

// autoAdd is auto_add_domains / md_cover_server.
func (r *reader) autoAdd(b *built) {
	var in *md.DomainSet // b.m.Domains, for lookups in constant time
	for _, s := range b.servers {
		if !s.ssl || len(s.assigned) != 1 || s.assigned[0] != b.def {
			continue
		}
		if in == nil {
			in = md.NewDomainSet(b.m.Domains...)
		}
		for _, name := range append([]string{s.hostname}, s.names...) {
			if in.Covers(name) {
				continue
			}
			if b.m.Transitive != 0 {
				if err := md.ValidateDomain(name); err != nil {
					r.errorf(s.file, s.line, "name %q of this VirtualHost would be added to Managed Domain '%s' (MDMembers auto): %v", name, b.m.Name, err)
					continue
				}
				b.m.Domains = append(b.m.Domains, strings.ToLower(name))
				in.Add(name)
			} else {
				r.warnf(s.file, s.line, "Virtual Host %s:%d matches Managed Domain '%s', but the name/alias %s itself is not managed. A requested MD certificate will not match ServerName.",
					s.hostname, s.port, b.m.Name, name)
			}
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// usesPort is uses_port: every address of s is on port.
func usesPort(s *server, port int) bool {
	match := false
	for _, a := range s.addrs {
		if a.port != port {
			return false
		}
		match = true
	}
	return match
}

func allowsProtocol(s *server, proto string) bool {
	if len(s.protocols) == 0 {
		return proto == "http/1.1"
	}
	return slices.Contains(s.protocols, proto)
}

// acmeTLS1Domains is init_acme_tls_1_domains with get_public_https_server.
func (r *reader) acmeTLS1Domains(b *built, servers []*server, mc *modConf, canHTTPS bool) []string {
	out := []string{}
	checkPort := true
	if len(b.m.CA.Challenges) > 0 {
		checkPort = !slices.Contains(b.m.CA.Challenges, "tls-alpn-01")
	}
	for _, domain := range b.m.Domains {
		var found *server
		if !checkPort || canHTTPS {
			for _, s := range b.servers {
				if !s.ssl || len(s.assigned) == 0 {
					continue
				}
				if s.base && !mc.baseServer {
					continue
				}
				if !s.base && checkPort && mc.local443 > 0 && !usesPort(s, mc.local443) {
					continue
				}
				if !slices.Contains(s.assigned, b.def) || !matchesVhost(s, domain) {
					continue
				}
				if checkPort || allowsProtocol(s, "acme-tls/1") {
					found = s
					break
				}
				found = s
			}
		}
		if found == nil && mc.baseServer {
			found = servers[0]
		}
		if found == nil || !allowsProtocol(found, "acme-tls/1") {
			continue
		}
		out = append(out, domain)
	}
	return out
}

// checkChallenges warns as mod_md's test init (AH10173) when no challenge
// type can work for an MD that will be renewed.
func (r *reader) checkChallenges(b *built, mc *modConf, canHTTP, canHTTPS bool) {
	if len(b.m.CA.Challenges) > 0 || len(b.m.CertFiles) > 0 && b.m.RenewMode != md.RenewAlways {
		return
	}
	hasDNS := b.m.CmdDNS01 != "" || mc.envDNS01Cmd != ""
	if !canHTTP && !canHTTPS && !hasDNS {
		r.warnf(b.def.file, b.def.line, "md[%s]: the server seems neither reachable via http (port 80) nor https (port 443). Please look at the MDPortMap configuration directive on how to correct this. The ACME protocol needs at least one of those so the CA can talk to the server and verify a domain ownership. Alternatively, you may configure support for the dns-01 challenge directive.", b.m.Name)
		return
	}
	left := 3
	var why strings.Builder
	if !canHTTP {
		left--
		why.WriteString(" The http: challenge 'http-01' is disabled because the server seems not reachable on public port 80.")
	}
	if !canHTTPS {
		left--
		why.WriteString(" The https: challenge 'tls-alpn-01' is disabled because the server seems not reachable on public port 443.")
	} else if len(b.m.Proto.ACMETLS1) == 0 {
		left--
		why.WriteString(" The https: challenge 'tls-alpn-01' is disabled because the Protocols configuration does not include the 'acme-tls/1' protocol.")
	}
	if !hasDNS {
		left--
		why.WriteString(" The DNS challenge 'dns-01' is disabled because the directive 'MDChallengeDns01' is not configured.")
	}
	if left == 0 {
		r.warnf(b.def.file, b.def.line, "md[%s]: None of the ACME challenge methods configured for this domain are suitable.%s", b.m.Name, why.String())
	}
}
