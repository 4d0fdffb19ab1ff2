package importer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mdtools/mdtools/lib/fsread"
)

// certbotDefaultServer is certbot's default CA.
const certbotDefaultServer = "https://acme-v02.api.letsencrypt.org/directory"

// scanCertbot reads certbot's config directory (/etc/letsencrypt):
// accounts/<server host>/<server path>/<id>/{regr.json,private_key.json},
// renewal/<lineage>.conf and live/<lineage>/ (links into archive/).
func scanCertbot(dir string) (*scan, error) {
	if _, err := os.Stat(filepath.Join(dir, "renewal")); err != nil {
		return nil, fmt.Errorf("%s does not look like certbot's config directory (no renewal/): %w", dir, err)
	}
	s := &scan{}
	byID := map[string]*account{}
	root := filepath.Join(dir, "accounts")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || d.Name() != "regr.json" {
			return nil
		}
		a := readCertbotAccount(dir, filepath.Dir(p))
		s.accounts = append(s.accounts, a)
		byID[filepath.Base(filepath.Dir(p))] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	confs, err := filepath.Glob(filepath.Join(dir, "renewal", "*.conf"))
	if err != nil {
		return nil, err
	}
	sort.Strings(confs)
	for _, conf := range confs {
		s.certs = append(s.certs, readCertbotLineage(dir, conf, byID))
	}
	return s, nil
}

// readCertbotAccount reads one account directory. Its CA is the directory
// URL the path spells (accounts/<host>/<path>/<id>); a renewal conf that
// uses the account names it too.
func readCertbotAccount(dir, adir string) *account {
	rel, _ := filepath.Rel(dir, adir)
	a := &account{source: rel}
	server := strings.TrimPrefix(filepath.ToSlash(filepath.Dir(rel)), "accounts/")
	a.caURL = "https://" + server
	var regr registration
	data, err := fsread.ReadFile(filepath.Join(adir, "regr.json"), fsread.MaxSmall)
	if err == nil {
		err = json.Unmarshal(data, &regr)
	}
	if err != nil {
		a.err = fmt.Errorf("regr.json: %w", err)
		return a
	}
	a.url, a.contact, a.status, a.orders = regr.URI, regr.Body.Contact, regr.Body.Status, regr.Body.Orders
	if a.url == "" {
		a.err = fmt.Errorf("regr.json has no account URL (\"uri\")")
		return a
	}
	data, err = fsread.ReadFile(filepath.Join(adir, "private_key.json"), fsread.MaxSmall)
	if err == nil {
		a.key, err = parseJWK(data)
	}
	if err != nil {
		a.err = fmt.Errorf("private_key.json: %w", err)
	}
	return a
}

// readCertbotLineage reads renewal/<lineage>.conf and live/<lineage>/.
func readCertbotLineage(dir, conf string, accounts map[string]*account) *cert {
	lineage := strings.TrimSuffix(filepath.Base(conf), ".conf")
	c := &cert{source: "live/" + lineage, name: lineage}
	top, params, webroots, err := readRenewalConf(conf)
	if err != nil {
		c.err = err
		return c
	}
	c.caURL = params["server"]
	if c.caURL == "" {
		c.caURL = certbotDefaultServer
	}
	if id := params["account"]; id != "" {
		if c.acct = accounts[id]; c.acct == nil {
			c.notes = append(c.notes, Note{What: "certbot account", Value: id,
				Instead: "the account is not in accounts/; md-order registers a new one (set certificate-agreement and contact-email)"})
		} else if c.acct.caURL != c.caURL && c.acct.err == nil {
			c.acct.caURL = c.caURL // the server as certbot spelt it
		}
	}
	live := filepath.Join(dir, "live", lineage)
	c.chainPEM, c.keyPEM, c.leaf, c.spec, c.err = readPair(filepath.Join(live, "fullchain.pem"), filepath.Join(live, "privkey.pem"), "")
	if c.err != nil {
		return c
	}
	certbotRenewal(c, top, params, webroots)
	certbotHookDirs(c, dir)
	return c
}

// readRenewalConf reads certbot's renewal conf (ConfigObj): top-level
// keys, [renewalparams] and its [[webroot_map]].
func readRenewalConf(path string) (top, params, webroots map[string]string, err error) {
	data, err := fsread.ReadFile(path, fsread.MaxSmall)
	if err != nil {
		return nil, nil, nil, err
	}
	top, params, webroots = map[string]string{}, map[string]string{}, map[string]string{}
	cur := top
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line == "[renewalparams]":
			cur = params
		case line == "[[webroot_map]]":
			cur = webroots
		case line[0] == '[':
			cur = map[string]string{} // a section this importer does not read
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, nil, nil, fmt.Errorf("%s:%d: not \"key = value\"", path, n)
			}
			cur[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
		}
	}
	return top, params, webroots, sc.Err()
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// certbotRenewal maps a lineage's renewal settings to md.toml, and lists
// what does not map.
func certbotRenewal(c *cert, top, params, webroots map[string]string) {
	if w := strings.TrimSpace(top["renew_before_expiry"]); w != "" {
		if win, ok := certbotWindow(w); ok {
			c.renewWindow = win
		} else {
			c.notes = append(c.notes, Note{What: "certbot renew_before_expiry", Value: w, Instead: "set renew-window (\"30d\" or \"33%\")"})
		}
	}
	switch auth := params["authenticator"]; {
	case auth == "standalone":
		port := params["http01_port"]
		if port == "" {
			port = "80"
		}
		c.httpListen = params["http01_address"] + ":" + port
	case auth == "webroot":
		roots := map[string]bool{}
		first := ""
		for _, r := range strings.Split(params["webroot_path"], ",") {
			if r = strings.TrimSpace(r); r != "" {
				if first == "" {
					first = r
				}
				roots[r] = true
			}
		}
		for _, r := range webroots {
			roots[r] = true
		}
		if r := webroots[c.name]; r != "" {
			first = r
		}
		c.webroot = first
		if len(roots) > 1 {
			c.notes = append(c.notes, Note{What: "certbot webroot_map", Value: strings.Join(sortedKeys(roots), ", "),
				Instead: "one webroot per MD: make the web server serve /.well-known/acme-challenge/ of every name from " + first})
		}
	case auth == "manual":
		c.notes = append(c.notes, Note{What: "certbot manual authenticator", Value: params["manual_auth_hook"],
			Instead: "challenge-dns01 = [\"/path/hook\"] (called as hook setup <domain> <token> and hook teardown <domain>; certbot's CERTBOT_DOMAIN/CERTBOT_VALIDATION hooks need a wrapper)"})
	case strings.HasPrefix(auth, "dns-"):
		n := Note{What: "certbot " + auth + " plugin", Instead: "challenge-dns01 = [\"/path/hook\"] that updates the zone at this DNS provider (called as hook setup <domain> <token> and hook teardown <domain>)"}
		if f := params[strings.ReplaceAll(auth, "-", "_")+"_credentials"]; f != "" {
			n.Value = "credentials file " + f + " (not read, not copied)"
		}
		c.notes = append(c.notes, n)
		c.challenges = []string{"dns-01"}
	case auth == "apache" || auth == "nginx":
		c.notes = append(c.notes, Note{What: "certbot " + auth + " authenticator",
			Instead: "serve /.well-known/acme-challenge/ from a webroot (webroot = ...) or proxy it to md-challenge serve"})
	case auth != "":
		c.notes = append(c.notes, Note{What: "certbot authenticator", Value: auth, Instead: "set webroot, http-listen, tls-listen or challenge-dns01"})
	}
	if inst := params["installer"]; inst != "" && inst != "None" && inst != "null" {
		c.notes = append(c.notes, Note{What: "certbot " + inst + " installer",
			Instead: "point the server at md-install's files (Apache: the snippet md-install writes; others: deploy-dir) instead of live/" + c.name})
	}
	hooks := []struct{ key, instead string }{
		{"pre_hook", "stop/start a service around renewal: not needed with webroot or http-listen on a free port"},
		{"post_hook", "reload-cmd (run by md-install after new certificates were deployed)"},
		{"renew_hook", "reload-cmd, or notify-cmd (run after a renewal with the MD name)"},
		{"deploy_hook", "reload-cmd, or notify-cmd (run after a renewal with the MD name)"},
	}
	for _, h := range hooks {
		if v := params[h.key]; v != "" {
			c.notes = append(c.notes, Note{What: "certbot " + h.key, Value: v, Instead: h.instead})
		}
	}
	if v := params["preferred_chain"]; v != "" {
		c.notes = append(c.notes, Note{What: "certbot preferred_chain", Value: v, Instead: "preferred-chain = \"<name>\" for the MD (MDPreferredChain in Apache); not imported automatically"})
	}
	if strings.EqualFold(params["reuse_key"], "True") {
		c.notes = append(c.notes, Note{What: "certbot reuse_key", Instead: "none yet: every renewal makes a new key"})
	}
}

// certbotWindow turns "30 days" / "2 weeks" into a renew-window.
func certbotWindow(s string) (string, bool) {
	var n int
	var unit string
	if _, err := fmt.Sscanf(s, "%d %s", &n, &unit); err != nil || n <= 0 {
		return "", false
	}
	switch strings.TrimSuffix(strings.ToLower(unit), "s") {
	case "day":
		return fmt.Sprintf("%dd", n), true
	case "week":
		return fmt.Sprintf("%dd", 7*n), true
	case "hour":
		return fmt.Sprintf("%dh", n), true
	}
	return "", false
}

// certbotHookDirs notes scripts in renewal-hooks/{pre,deploy,post}/,
// which certbot runs for every lineage.
func certbotHookDirs(c *cert, dir string) {
	for _, kind := range []string{"pre", "deploy", "post"} {
		ents, err := os.ReadDir(filepath.Join(dir, "renewal-hooks", kind))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				instead := "reload-cmd or notify-cmd"
				if kind == "pre" {
					instead = "not needed with webroot or http-listen on a free port"
				}
				c.notes = append(c.notes, Note{What: "certbot renewal-hooks/" + kind, Value: filepath.Join(dir, "renewal-hooks", kind, e.Name()), Instead: instead})
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
