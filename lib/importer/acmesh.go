package importer

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
)

// acmeshDefaultServer is the CA of acme.sh 3 when none is configured.
const acmeshDefaultServer = "https://acme.zerossl.com/v2/DV90"

// scanAcmeSh reads acme.sh's home (~/.acme.sh): a directory per
// certificate, <domain>/ (RSA) or <domain>_ecc/, with <domain>.conf,
// fullchain.cer and <domain>.key, and an account per CA in
// ca/<host>/<path>/ (account.key, account.json, ca.conf).
func scanAcmeSh(dir string) (*scan, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &scan{}
	accounts := map[string]*account{} // by ca/ directory
	var names []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "ca" && e.Name() != "deploy" && e.Name() != "dnsapi" && e.Name() != "notify" {
			main := strings.TrimSuffix(e.Name(), "_ecc")
			if _, err := os.Stat(filepath.Join(dir, e.Name(), main+".conf")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		if _, err := os.Stat(filepath.Join(dir, "ca")); err != nil {
			return nil, fmt.Errorf("%s does not look like acme.sh's home (no <domain>/<domain>.conf, no ca/)", dir)
		}
	}
	savedCreds := acmeshSavedCredentials(dir)
	sort.Strings(names)
	for _, n := range names {
		c := readAcmeShDomain(dir, n, accounts)
		if strings.HasPrefix(c.mode, "dns_") && len(savedCreds) > 0 {
			c.notes = append(c.notes, Note{What: "acme.sh saved DNS API credentials", Value: strings.Join(savedCreds, ", ") + " in account.conf (not read, not copied)",
				Instead: "give them to the challenge-dns01 hook, e.g. in its own config file"})
		}
		s.certs = append(s.certs, c)
	}
	for _, k := range sortedAccountKeys(accounts) {
		s.accounts = append(s.accounts, accounts[k])
	}
	return s, nil
}

func sortedAccountKeys(m map[string]*account) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readAcmeShConf reads acme.sh's KEY='value' files; values written base64
// (hooks, reload commands) are decoded. Nothing is evaluated.
func readAcmeShConf(path string) (map[string]string, error) {
	data, err := fsread.ReadFile(path, fsread.MaxSmall)
	if err != nil {
		return nil, err
	}
	conf := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = unquote(strings.TrimSpace(v))
		const start, end = "__ACME_BASE64__START_", "__ACME_BASE64__END_"
		if strings.HasPrefix(v, start) && strings.HasSuffix(v, end) {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(v, start), end)); err == nil {
				v = string(b)
			}
		}
		conf[strings.TrimSpace(k)] = v
	}
	return conf, sc.Err()
}

// acmeshCADir is acme.sh's ca/ subdirectory for a CA URL: the host
// without port, then the path ("https://h:1/dir" -> "h/dir").
func acmeshCADir(caURL string) string {
	rest := caURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	host, path, _ := strings.Cut(rest, "/")
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	return filepath.Join(host, path)
}

func readAcmeShDomain(dir, sub string, accounts map[string]*account) *cert {
	main := strings.TrimSuffix(sub, "_ecc")
	c := &cert{source: sub, name: main}
	conf, err := readAcmeShConf(filepath.Join(dir, sub, main+".conf"))
	if err != nil {
		c.err = err
		return c
	}
	c.caURL = conf["Le_API"]
	if c.caURL == "" {
		c.caURL = acmeshDefaultServer
	}
	cadir := acmeshCADir(c.caURL)
	if accounts[cadir] == nil {
		accounts[cadir] = readAcmeShAccount(dir, cadir, c.caURL)
	}
	if a := accounts[cadir]; a.err == nil {
		c.acct = a
	} else {
		c.notes = append(c.notes, Note{What: "acme.sh account", Value: "ca/" + cadir,
			Instead: "unusable (" + a.err.Error() + "); md-order registers a new one (set certificate-agreement and contact-email)"})
	}
	p := filepath.Join(dir, sub)
	c.chainPEM, c.keyPEM, c.leaf, c.spec, c.err = readPair(filepath.Join(p, "fullchain.cer"), filepath.Join(p, main+".key"), "")
	if c.err != nil {
		return c
	}
	acmeshRenewal(c, conf)
	return c
}

// readAcmeShAccount reads ca/<cadir>/: account.key, ca.conf
// (ACCOUNT_URL) and account.json (the CA's account object).
func readAcmeShAccount(dir, cadir, caURL string) *account {
	rel := filepath.Join("ca", cadir)
	a := &account{source: rel, caURL: caURL}
	conf, err := readAcmeShConf(filepath.Join(dir, rel, "ca.conf"))
	if err != nil {
		a.err = err
		return a
	}
	if a.url = conf["ACCOUNT_URL"]; a.url == "" {
		a.err = fmt.Errorf("ca.conf has no ACCOUNT_URL")
		return a
	}
	if kid := conf["CA_EAB_KEY_ID"]; kid != "" {
		a.notes = append(a.notes, Note{What: "acme.sh external account binding", Value: "key id " + kid,
			Instead: "none needed: the account is bound already; a new account would need external-account-binding"})
	}
	var obj struct {
		Status  string   `json:"status"`
		Contact []string `json:"contact"`
		Orders  string   `json:"orders"`
	}
	if data, err := fsread.ReadFile(filepath.Join(dir, rel, "account.json"), fsread.MaxSmall); err == nil {
		_ = json.Unmarshal(data, &obj) // only for status and contacts
	}
	a.status, a.contact, a.orders = obj.Status, obj.Contact, obj.Orders
	if len(a.contact) == 0 && conf["CA_EMAIL"] != "" {
		a.contact = []string{"mailto:" + conf["CA_EMAIL"]}
	}
	k, err := readAccountKey(filepath.Join(dir, rel, "account.key"))
	if err != nil {
		a.err = err
		return a
	}
	a.key = k.key
	return a
}

// acmeshRenewal maps a domain's acme.sh settings to md.toml and lists the
// rest.
func acmeshRenewal(c *cert, conf map[string]string) {
	mode := conf["Le_Webroot"]
	if m, _, ok := strings.Cut(mode, ","); ok {
		mode = m
	}
	c.mode = mode
	if instead := acmeshModeInstead(c, mode, conf); instead != "" {
		c.notes = append(c.notes, Note{What: "acme.sh mode", Value: mode, Instead: instead})
	}
	if n, err := strconv.Atoi(conf["Le_RenewalDays"]); err == nil && n > 0 && c.leaf != nil {
		left := c.leaf.NotAfter.Sub(c.leaf.NotBefore.Add(time.Duration(n) * 24 * time.Hour))
		if days := int(left.Hours() / 24); days > 0 {
			c.renewWindow = fmt.Sprintf("%dd", days)
		}
	}
	for _, h := range []struct{ key, what, instead string }{
		{"Le_PreHook", "pre-hook", "not needed with webroot or http-listen on a free port"},
		{"Le_PostHook", "post-hook", "reload-cmd (run by md-install after new certificates were deployed)"},
		{"Le_RenewHook", "renew-hook", "reload-cmd, or notify-cmd (run after a renewal with the MD name)"},
		{"Le_ReloadCmd", "reloadcmd", "reload-cmd"},
		{"Le_DeployHook", "deploy-hook", "notify-cmd running the deploy step, or deploy-dir for PEM files"},
		{"Le_RealFullChainPath", "install-cert --fullchain-file", "deploy-dir (md-install writes fullchain.pem and privkey.pem there)"},
		{"Le_Preferred_Chain", "preferred-chain", "preferred-chain = \"<name>\" for the MD (MDPreferredChain in Apache); not imported automatically"},
	} {
		if v := conf[h.key]; v != "" {
			c.notes = append(c.notes, Note{What: "acme.sh " + h.what, Value: v, Instead: h.instead})
		}
	}
}

// acmeshModeInstead maps Le_Webroot: a path is the webroot, "no" is
// standalone http-01, "alpn" standalone tls-alpn-01; the others need
// configuring ("" when nothing is left to do).
func acmeshModeInstead(c *cert, mode string, conf map[string]string) string {
	switch {
	case strings.HasPrefix(mode, "/"):
		c.webroot = mode
		return ""
	case mode == "no":
		c.httpListen = conf["Le_LocalAddress"] + ":" + orDefault(conf["Le_HTTPPort"], "80")
		return ""
	case mode == "alpn":
		c.tlsListen = conf["Le_LocalAddress"] + ":" + orDefault(conf["Le_TLSPort"], "443")
		c.challenges = []string{"tls-alpn-01"}
		return ""
	case mode == "dns":
		return "challenge-dns01 = [\"/path/hook\"]: acme.sh's manual DNS mode has no automatic equivalent"
	case strings.HasPrefix(mode, "dns_"):
		c.challenges = []string{"dns-01"}
		return "challenge-dns01 = [\"/path/hook\"] that updates the zone through the DNS API acme.sh used (" + mode + "); called as hook setup <domain> <token> and hook teardown <domain>"
	case mode == "apache" || mode == "nginx" || strings.HasPrefix(mode, "nginx:"):
		return "serve /.well-known/acme-challenge/ from a webroot (webroot = ...) or proxy it to md-challenge serve"
	case mode == "stateless":
		return "webroot (the web server serves the files md-order writes) or md-challenge serve"
	}
	return "set webroot, http-listen, tls-listen or challenge-dns01"
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// acmeshSavedCredentials lists the names (never the values) of the DNS
// API credentials acme.sh saved in account.conf.
func acmeshSavedCredentials(dir string) []string {
	conf, err := readAcmeShConf(filepath.Join(dir, "account.conf"))
	if err != nil {
		return nil
	}
	var names []string
	for k := range conf {
		if strings.HasPrefix(k, "SAVED_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}
