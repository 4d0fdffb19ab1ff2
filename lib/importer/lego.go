package importer

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mdtools/mdtools/lib/fsread"
)

// legoKnownCAs maps the host directory names lego uses under accounts/ to
// CA directory URLs: lego keeps only the host (and port), not the path.
var legoKnownCAs = map[string]string{
	"acme-v02.api.letsencrypt.org":         "https://acme-v02.api.letsencrypt.org/directory",
	"acme-staging-v02.api.letsencrypt.org": "https://acme-staging-v02.api.letsencrypt.org/directory",
	"acme.zerossl.com":                     "https://acme.zerossl.com/v2/DV90",
	"api.buypass.com":                      "https://api.buypass.com/acme/directory",
	"api.test4.buypass.no":                 "https://api.test4.buypass.no/acme/directory",
	"dv.acme-v02.api.pki.goog":             "https://dv.acme-v02.api.pki.goog/directory",
}

// legoHostDir is lego's directory name for a CA URL's host: ':' as '_'.
func legoHostDir(caURL string) string {
	u, err := url.Parse(caURL)
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(u.Host, ":", "_")
}

// scanLego reads lego's --path directory (.lego):
// accounts/<host>/<email>/{account.json,keys/<email>.key} and
// certificates/<domain>.{crt,key,json,issuer.crt}. server, when given,
// is the CA directory URL of the accounts under its host.
func scanLego(dir, server string) (*scan, error) {
	accts, _ := filepath.Glob(filepath.Join(dir, "accounts", "*", "*", "account.json"))
	if _, err := os.Stat(filepath.Join(dir, "certificates")); err != nil && len(accts) == 0 {
		return nil, fmt.Errorf("%s does not look like lego's directory (no certificates/, no accounts/<host>/<email>/account.json)", dir)
	}
	s := &scan{}
	byHost := map[string][]*account{}
	hosts, _ := os.ReadDir(filepath.Join(dir, "accounts"))
	for _, h := range hosts {
		if !h.IsDir() {
			continue
		}
		emails, _ := os.ReadDir(filepath.Join(dir, "accounts", h.Name()))
		for _, e := range emails {
			if !e.IsDir() {
				continue
			}
			a := readLegoAccount(dir, h.Name(), e.Name(), server)
			s.accounts = append(s.accounts, a)
			byHost[h.Name()] = append(byHost[h.Name()], a)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "certificates", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		s.certs = append(s.certs, readLegoCert(dir, f, server, byHost))
	}
	return s, nil
}

func readLegoAccount(dir, host, email, server string) *account {
	rel := filepath.Join("accounts", host, email)
	a := &account{source: rel}
	switch {
	case server != "" && legoHostDir(server) == host:
		a.caURL = server
	case legoKnownCAs[host] != "":
		a.caURL = legoKnownCAs[host]
	default:
		a.err = fmt.Errorf("lego keeps only the CA's host (%s), not its directory URL: give it with --server", host)
		return a
	}
	var f struct {
		Email        string        `json:"email"`
		Registration *registration `json:"registration"`
	}
	data, err := fsread.ReadFile(filepath.Join(dir, rel, "account.json"), fsread.MaxSmall)
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		a.err = fmt.Errorf("account.json: %w", err)
		return a
	}
	if f.Registration == nil || f.Registration.URI == "" {
		a.err = fmt.Errorf("account.json has no registration (lego never registered this account)")
		return a
	}
	a.url, a.status, a.orders = f.Registration.URI, f.Registration.Body.Status, f.Registration.Body.Orders
	a.contact = f.Registration.Body.Contact
	if len(a.contact) == 0 && f.Email != "" {
		a.contact = []string{"mailto:" + f.Email}
	}
	k, err := readAccountKey(filepath.Join(dir, rel, "keys", email+".key"))
	if err != nil {
		a.err = err
		return a
	}
	a.key = k.key
	return a
}

// readLegoCert reads certificates/<base>.json and the files beside it.
// Its CA is the host of the certificate's URL, matched to the accounts.
func readLegoCert(dir, jsonPath, server string, byHost map[string][]*account) *cert {
	base := strings.TrimSuffix(filepath.Base(jsonPath), ".json")
	c := &cert{source: "certificates/" + base + ".crt", name: base}
	var meta struct {
		Domain  string `json:"domain"`
		CertURL string `json:"certUrl"`
	}
	data, err := fsread.ReadFile(jsonPath, fsread.MaxSmall)
	if err == nil {
		err = json.Unmarshal(data, &meta)
	}
	if err != nil {
		c.err = err
		return c
	}
	if meta.Domain != "" {
		c.name = meta.Domain
	}
	host := legoHostDir(meta.CertURL)
	accts := byHost[host]
	switch {
	case len(accts) > 0:
		c.acct = accts[0]
		c.caURL = accts[0].caURL
		if len(accts) > 1 {
			c.notes = append(c.notes, Note{What: "lego accounts", Value: fmt.Sprintf("%d accounts for %s", len(accts), host),
				Instead: "the MD uses " + accts[0].source + "; set ca.account in domains/<md>/md.json for another"})
		}
	case server != "" && legoHostDir(server) == host:
		c.caURL = server
	case legoKnownCAs[host] != "":
		c.caURL = legoKnownCAs[host]
	default:
		c.err = fmt.Errorf("the CA of %s (%s) is not known: give its directory URL with --server", c.source, host)
		return c
	}
	if c.acct != nil && c.acct.err != nil {
		c.err = fmt.Errorf("its account %s: %v", c.acct.source, c.acct.err)
		return c
	}
	p := filepath.Join(dir, "certificates", base)
	c.chainPEM, c.keyPEM, c.leaf, c.spec, c.err = readPair(p+".crt", p+".key", p+".issuer.crt")
	c.notes = append(c.notes, Note{What: "lego challenge", Value: "lego keeps no record of how it answered challenges",
		Instead: "set webroot, http-listen, tls-listen or challenge-dns01 for this MD"},
		Note{What: "lego hooks", Value: "--run-hook/--renew-hook and renew --days of the lego command line",
			Instead: "reload-cmd or notify-cmd; renew-window (default 33% of the lifetime left)"})
	return c
}
