package acmeflow

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxAlternates bounds the alternate chains looked at for one
// certificate: a CA linking more is misbehaving, and each is a signed
// request.
const maxAlternates = 10

// retrieveChain downloads the issued certificate and, when the MD has a
// preferred chain (md.toml preferred-chain, MDPreferredChain), picks among
// the chains the CA offers (RFC 8555 §7.4.2, Link rel="alternate").
//
// The rule is certbot's --preferred-chain (acme/acme/crypto_util.py,
// find_chain_with_issuer; mod_md has no such option): the first chain,
// default one first, whose topmost certificate's issuer Common Name equals
// the preferred name exactly; when none does, the default chain. Alternates
// are only fetched when the default chain does not match already.
func (a *attempt) retrieveChain(ctx context.Context, certURL string) ([]*x509.Certificate, error) {
	chain, alternates, err := a.sig.fetchChainLinks(ctx, certURL)
	if err != nil {
		return nil, err
	}
	want := a.rec.PreferredChain
	if want == "" {
		return chain, nil
	}
	if topIssuer(chain) == want {
		a.progress("The CA's default chain is the preferred chain %q", want)
		return chain, nil
	}
	offered := []string{topIssuer(chain)}
	urls, skipped := sameOrigin(certURL, alternates)
	for _, u := range skipped {
		a.progress("Not following the alternate chain at %s: it is not on the certificate's server", u)
	}
	if len(urls) > maxAlternates {
		a.progress("The CA links %d alternate chains; looking at the first %d", len(urls), maxAlternates)
		urls = urls[:maxAlternates]
	}
	for _, u := range urls {
		alt, _, err := a.sig.fetchChainLinks(ctx, u)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			a.progress("Skipping the alternate chain at %s: %v", u, err)
			continue
		}
		if why := altMismatch(chain[0], alt); why != "" {
			a.progress("Skipping the alternate chain at %s: %s", u, why)
			continue
		}
		top := topIssuer(alt)
		if top == want {
			a.progress("Using the CA's alternate chain at %s: its topmost issuer is the preferred chain %q", u, want)
			return alt, nil
		}
		offered = append(offered, top)
	}
	note := fmt.Sprintf("no certificate chain the CA offers has the preferred topmost issuer %q (offered: %s); using the CA's default chain",
		want, quoteList(offered))
	a.job.AddLog(a.r.now(), "progress", "", note)
	a.r.log().Warnf("%s: %s", a.name, note)
	if a.rec.Order != nil {
		a.rec.Order.Warnings = append(a.rec.Order.Warnings, note)
	}
	return chain, nil
}

// topIssuer is the issuer Common Name of a chain's last certificate: the
// root the chain leads to.
func topIssuer(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return ""
	}
	return chain[len(chain)-1].Issuer.CommonName
}

// altMismatch says why an alternate chain cannot stand in for the default
// one ("" if it can): it must carry the same certificate, each one signed
// by the next.
func altMismatch(leaf *x509.Certificate, alt []*x509.Certificate) string {
	if !bytes.Equal(alt[0].Raw, leaf.Raw) {
		return "it is for another certificate"
	}
	for i := 0; i+1 < len(alt); i++ {
		if err := alt[i].CheckSignatureFrom(alt[i+1]); err != nil {
			return fmt.Sprintf("certificate %d (%s) is not signed by the next one (%s)", i+1, alt[i].Subject, alt[i+1].Subject)
		}
	}
	return ""
}

// sameOrigin resolves links against the certificate's URL and keeps those
// on the same scheme and host: the download is a signed request, sent
// only where the order's certificate lives. Duplicates and the
// certificate's own URL are dropped.
func sameOrigin(certURL string, links []string) (keep, skipped []string) {
	base, err := url.Parse(certURL)
	if err != nil {
		return nil, links
	}
	seen := map[string]bool{base.String(): true}
	for _, l := range links {
		u, err := base.Parse(l)
		if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
			skipped = append(skipped, l)
			continue
		}
		if s := u.String(); !seen[s] {
			seen[s] = true
			keep = append(keep, s)
		}
	}
	return keep, skipped
}

// linkRels returns the targets of all Link headers (RFC 8288) with
// relation rel, in order.
func linkRels(h http.Header, rel string) []string {
	var out []string
	for _, v := range h.Values("Link") {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") { // not a link-value: skip it
				_, v, _ = strings.Cut(v, ",")
				continue
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			params, rest := splitLinkParams(v[end+1:])
			v = rest
			if hasRel(params, rel) {
				out = append(out, target)
			}
		}
	}
	return out
}

// splitLinkParams splits the parameters of one link-value from the
// link-values after it, at the first comma outside quotes.
func splitLinkParams(s string) (params, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// hasRel reports whether link parameters (";rel=up; title=x") name the
// relation rel; rel may list several, space-separated.
func hasRel(params, rel string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, r := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(r, rel) {
				return true
			}
		}
	}
	return false
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
