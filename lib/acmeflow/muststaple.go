package acmeflow

import (
	"context"
	"fmt"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// mustStapleWarning is said before a must-staple certificate is ordered
// from a CA whose certificates name no OCSP responder: TLS clients refuse
// a must-staple certificate that comes without a staple, and there will
// be nothing to staple. The evidence is an installed certificate from the
// same CA URL, the MD's own first, then any other MD's; with none (the
// first certificate from this CA) nothing is known and nothing is said.
func (r *Runner) mustStapleWarning(ctx context.Context, rec *md.Record, caURL string) string {
	if !rec.MustStaple || caURL == "" {
		return ""
	}
	names := []string{rec.Name}
	if others, err := r.Store.List(ctx, store.GroupDomains); err == nil {
		names = append(names, others...)
	}
	for _, name := range names {
		hasOCSP, known := r.installedHasOCSP(ctx, name, caURL)
		if !known {
			continue
		}
		if hasOCSP {
			return ""
		}
		return fmt.Sprintf("must-staple is on, but the certificates of %s name no OCSP responder (see domains/%s): "+
			"TLS clients will refuse this certificate, as no server can staple it; turn MDMustStaple off (md.toml: must-staple = false)", caURL, name)
	}
	return ""
}

// installedHasOCSP reports whether the installed certificate of MD name,
// if it came from caURL, names an OCSP responder; known is false when the
// MD has no installed certificate from that CA.
func (r *Runner) installedHasOCSP(ctx context.Context, name, caURL string) (hasOCSP, known bool) {
	m, err := r.Store.LoadMD(ctx, store.GroupDomains, name)
	if err != nil || m.CA == nil || m.CA.URL != caURL {
		return false, false
	}
	for _, ks := range m.PrivKey.Effective() {
		chain, err := r.Store.LoadChain(ctx, store.GroupDomains, name, ks.FileName("pubcert"))
		if err != nil || len(chain) == 0 {
			continue
		}
		return len(chain[0].OCSPServer) > 0, true
	}
	return false, false
}
