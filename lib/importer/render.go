package importer

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// tq quotes a TOML basic string (JSON's escapes are TOML's).
func tq(s string) string {
	b, _ := md.MarshalNoEscape(s)
	return strings.TrimSpace(string(b))
}

func tqList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = tq(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func emails(contacts []string) []string {
	var out []string
	for _, c := range contacts {
		if e, ok := strings.CutPrefix(c, "mailto:"); ok && e != "" {
			out = append(out, e)
		}
	}
	return out
}

func (p *mdPlan) specWords() []string {
	w := make([]string, len(p.certs))
	for i, c := range p.certs {
		w[i] = specWord(c.spec)
	}
	return w
}

func (p *mdPlan) sources() string {
	s := make([]string, len(p.certs))
	for i, c := range p.certs {
		s[i] = c.source
	}
	return strings.Join(s, ", ")
}

// allNotes are the MD's certificates' notes, each once.
func (p *mdPlan) allNotes() []Note {
	var out []Note
	seen := map[Note]bool{}
	for _, c := range p.certs {
		for _, n := range c.notes {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// renderTOML writes the md.toml that describes the imported MDs.
func renderTOML(client, dir, storeDir string, plans []*mdPlan) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# md.toml for the certificates %s managed in %s, written by\n", client, dir)
	fmt.Fprintf(&b, "# md-parse import. Their accounts, live certificates and keys are in the\n")
	fmt.Fprintf(&b, "# store; md-order renews each when due:  md-renew %s\n\n", "<this file>")
	fmt.Fprintf(&b, "[global]\nstore-dir = %s\n", tq(storeDir))
	if pm := portMap(plans); pm != "" {
		fmt.Fprintf(&b, "# %s answered on these ports: the public ports 80/443 arrive there\nport-map = %s\n", client, tq(pm))
	}
	fmt.Fprintf(&b, "# Only needed if the CA no longer knows an imported account and md-order\n")
	fmt.Fprintf(&b, "# must register a new one:\n# certificate-agreement = \"accepted\"\n")
	for _, p := range plans {
		fmt.Fprintf(&b, "\n[[domain]]\n# from %s (%s)", p.sources(), client)
		if p.acct != nil {
			fmt.Fprintf(&b, "; account %s", p.acct.url)
		}
		fmt.Fprintf(&b, "\ndomains = %s\n", tqList(p.domains))
		fmt.Fprintf(&b, "certificate-authority = %s\n", tq(p.caURL))
		fmt.Fprintf(&b, "private-keys = %s\n", tqList(p.specWords()))
		if e := emails(p.contacts); len(e) > 0 {
			fmt.Fprintf(&b, "contact-email = %s\n", tqList(e))
		}
		if p.renewWindow != "" {
			fmt.Fprintf(&b, "renew-window = %s\n", tq(p.renewWindow))
		}
		if p.mustStaple {
			fmt.Fprintf(&b, "must-staple = true\n")
		}
		if len(p.challenges) > 0 {
			fmt.Fprintf(&b, "ca-challenges = %s\n", tqList(p.challenges))
		}
		if p.webroot != "" {
			fmt.Fprintf(&b, "webroot = %s\n", tq(p.webroot))
		}
		if p.httpListen != "" {
			fmt.Fprintf(&b, "http-listen = %s\n", tq(p.httpListen))
		}
		if p.tlsListen != "" {
			fmt.Fprintf(&b, "tls-listen = %s\n", tq(p.tlsListen))
		}
		writeNotes(&b, p.allNotes())
	}
	return b.Bytes()
}

func writeNotes(b *bytes.Buffer, notes []Note) {
	flat := strings.NewReplacer("\r", " ", "\n", " ").Replace
	for _, n := range notes {
		line := "# not carried over: " + flat(n.What)
		if n.Value != "" {
			line += " (" + flat(n.Value) + ")"
		}
		fmt.Fprintf(b, "%s\n#   instead: %s\n", line, flat(n.Instead))
	}
}

// renderApache writes the same MDs as Apache MDomain sections.
func renderApache(client, dir, storeDir string, plans []*mdPlan) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# MDomain sections for the certificates %s managed in %s, written by\n", client, dir)
	fmt.Fprintf(&b, "# md-parse import. Their accounts, live certificates and keys are in the store.\n")
	fmt.Fprintf(&b, "MDStoreDir %s\n", apacheArg(storeDir))
	if pm := portMap(plans); pm != "" {
		fmt.Fprintf(&b, "MDPortMap %s\n", pm)
	}
	fmt.Fprintf(&b, "# Only needed if the CA no longer knows an imported account:\n# MDCertificateAgreement accepted\n")
	for _, p := range plans {
		fmt.Fprintf(&b, "\n# from %s (%s)\n", p.sources(), client)
		fmt.Fprintf(&b, "<MDomain %s>\n", strings.Join(p.domains, " "))
		fmt.Fprintf(&b, "    MDCertificateAuthority %s\n", apacheArg(p.caURL))
		fmt.Fprintf(&b, "    MDPrivateKeys %s\n", strings.Join(p.specWords(), " "))
		if e := emails(p.contacts); len(e) > 0 {
			fmt.Fprintf(&b, "    MDContactEmail %s\n", e[0])
		}
		if p.renewWindow != "" {
			fmt.Fprintf(&b, "    MDRenewWindow %s\n", p.renewWindow)
		}
		if p.mustStaple {
			fmt.Fprintf(&b, "    MDMustStaple on\n")
		}
		if len(p.challenges) > 0 {
			fmt.Fprintf(&b, "    MDCAChallenges %s\n", strings.Join(p.challenges, " "))
		}
		fmt.Fprintf(&b, "</MDomain>\n")
		notes := p.allNotes()
		if p.webroot != "" || p.httpListen != "" || p.tlsListen != "" {
			notes = append([]Note{{What: client + "'s challenge answer", Value: strings.Trim(p.webroot+" "+p.httpListen+" "+p.tlsListen, " "),
				Instead: "with Apache, proxy /.well-known/acme-challenge/ to md-challenge serve, or run md-order --http-listen"}}, notes...)
		}
		writeNotes(&b, notes)
	}
	return b.Bytes()
}

// portMap is the port-map that standalone listeners on other ports than
// 80 and 443 imply (certbot --http-01-port, acme.sh --httpport): the
// client was told the CA's connections arrive there. Only one port each
// can be mapped; "" when nothing needs mapping.
func portMap(plans []*mdPlan) string {
	port := func(addr, std string) string {
		if i := strings.LastIndex(addr, ":"); i >= 0 && addr[i+1:] != std {
			return addr[i+1:]
		}
		return ""
	}
	var http, https string
	for _, p := range plans {
		if h := port(p.httpListen, "80"); h != "" && http == "" {
			http = h
		}
		if t := port(p.tlsListen, "443"); t != "" && https == "" {
			https = t
		}
	}
	var parts []string
	if http != "" {
		parts = append(parts, "http:"+http)
	}
	if https != "" {
		parts = append(parts, "https:"+https)
	}
	return strings.Join(parts, " ")
}

func apacheArg(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return tq(s)
	}
	return s
}
