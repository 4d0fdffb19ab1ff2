package importer

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
)

// mdPlan is one MD to import: the certificates of one name set, one per
// key spec, and the renewal settings of the first.
type mdPlan struct {
	name        string
	domains     []string
	caURL       string
	acct        *account
	certs       []*cert // RSA first, then curves
	webroot     string
	httpListen  string
	tlsListen   string
	challenges  []string
	renewWindow string
	mustStaple  bool
	contacts    []string
}

// outcome is what happened to a certificate, for the report.
type outcome struct {
	md, status, detail string
}

// certDomains is the MD a certificate becomes: its names, the client's
// name for it first when the certificate has it (else its subject CN, else
// its first SAN), lower-cased.
func certDomains(c *cert) ([]string, error) {
	if len(c.leaf.IPAddresses) > 0 || len(c.leaf.URIs) > 0 || len(c.leaf.EmailAddresses) > 0 {
		return nil, fmt.Errorf("certificates for IP addresses, URIs or e-mail addresses are not managed domains")
	}
	var sans []string
	for _, n := range c.leaf.DNSNames {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if err := md.ValidateDomain(n); err != nil {
			return nil, err
		}
		if !slices.Contains(sans, n) {
			sans = append(sans, n)
		}
	}
	if len(sans) == 0 {
		return nil, fmt.Errorf("the certificate names no DNS name")
	}
	first := sans[0]
	for _, pref := range []string{strings.ToLower(c.name), strings.ToLower(c.leaf.Subject.CommonName)} {
		if slices.Contains(sans, pref) {
			first = pref
			break
		}
	}
	out := []string{first}
	for _, n := range sans {
		if n != first {
			out = append(out, n)
		}
	}
	return out, nil
}

// group turns the usable certificates into MDs. Certificates of one CA
// with the same names join one MD, one per key spec; of two with the same
// key spec the newer is taken. An MD whose names overlap a newer one's is
// not imported: mod_md manages each name in one MD only.
func group(certs []*cert, out map[*cert]*outcome) []*mdPlan {
	var usable []*cert
	doms := map[*cert][]string{}
	for _, c := range certs {
		if c.err != nil {
			out[c] = &outcome{status: StatusSkipped, detail: c.err.Error()}
			continue
		}
		d, err := certDomains(c)
		if err != nil {
			out[c] = &outcome{status: StatusSkipped, detail: err.Error()}
			continue
		}
		doms[c] = d
		usable = append(usable, c)
	}
	// newest first: it wins every conflict
	sort.SliceStable(usable, func(i, j int) bool { return usable[i].leaf.NotBefore.After(usable[j].leaf.NotBefore) })
	byKey := map[string]*mdPlan{}
	var plans []*mdPlan
	for _, c := range usable {
		set := slices.Clone(doms[c])
		sort.Strings(set)
		key := c.caURL + "\x00" + strings.Join(set, " ")
		p := byKey[key]
		if p == nil {
			p = &mdPlan{name: doms[c][0], domains: doms[c], caURL: c.caURL}
			byKey[key] = p
			plans = append(plans, p)
		}
		if prev := p.certFor(c.spec); prev != nil {
			out[c] = &outcome{md: p.name, status: StatusSkipped,
				detail: fmt.Sprintf("an older %s certificate for the same names than %s", c.spec, prev.source)}
			continue
		}
		p.certs = append(p.certs, c)
	}
	owner := map[string]*mdPlan{}
	var kept []*mdPlan
	for _, p := range plans {
		clash := ""
		for _, d := range p.domains {
			if o := owner[d]; o != nil {
				clash = fmt.Sprintf("%s is in the newer certificate %s too (MD %s); mod_md manages each name in one MD", d, o.certs[0].source, o.name)
				break
			}
		}
		if clash != "" {
			for _, c := range p.certs {
				out[c] = &outcome{status: StatusSkipped, detail: clash}
			}
			continue
		}
		for _, d := range p.domains {
			owner[d] = p
		}
		p.finish()
		kept = append(kept, p)
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].name < kept[j].name })
	return kept
}

func (p *mdPlan) certFor(spec md.KeySpec) *cert {
	for _, c := range p.certs {
		if c.spec.Name() == spec.Name() {
			return c
		}
	}
	return nil
}

// finish orders the key specs (RSA first, as mod_md's default) and takes
// the renewal settings from the first certificate.
func (p *mdPlan) finish() {
	sort.SliceStable(p.certs, func(i, j int) bool {
		a, b := p.certs[i].spec, p.certs[j].spec
		if (a.Type == md.KeyRSA) != (b.Type == md.KeyRSA) {
			return a.Type == md.KeyRSA
		}
		return a.Curve < b.Curve
	})
	first := p.certs[0]
	p.webroot, p.httpListen, p.tlsListen = first.webroot, first.httpListen, first.tlsListen
	p.challenges, p.renewWindow = first.challenges, first.renewWindow
	p.mustStaple = renew.HasMustStaple(first.leaf)
	for _, c := range p.certs {
		if c.acct != nil && c.acct.err == nil && p.acct == nil {
			p.acct = c.acct
		}
	}
	if p.acct != nil {
		p.contacts = p.acct.contact
	}
}
