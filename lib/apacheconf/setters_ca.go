package apacheconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
)

func setCA(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateAuthority", locAll); err != "" {
		return err
	}
	p := w.props()
	p.caURLs, p.caURLsSet = []string{}, true
	for _, a := range argv {
		if u, ok := md.CAURLForName(a); ok {
			p.caURLs = append(p.caURLs, u)
			continue
		}
		if msg := absURICheck(a, false); msg != "" {
			names := make([]string, len(md.KnownCAs))
			for i, c := range md.KnownCAs {
				names[i] = c.Name
			}
			return fmt.Sprintf("The CA name '%s' is not known and it is not a URL either (%s). Known CA names are: %s.",
				a, msg, strings.Join(names, " "))
		}
		p.caURLs = append(p.caURLs, a)
	}
	return ""
}

// absURICheck is md_util_abs_uri_check (httpOnly: md_util_abs_http_uri_check).
func absURICheck(s string, httpOnly bool) string {
	if strings.ContainsAny(s, " \t") {
		return "whitespace in uri"
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(err.Error(), "invalid port") {
			return "invalid port"
		}
		return "not an uri"
	}
	if u.Scheme == "" {
		return "missing uri scheme"
	}
	if len(u.Scheme)+1 >= len(s) {
		return "missing uri identifier"
	}
	scheme := strings.ToLower(u.Scheme)
	if strings.HasPrefix(scheme, "http") {
		if u.Hostname() == "" {
			return "missing hostname"
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n == 0 || n > 65353 {
				return "invalid port"
			}
		}
	}
	if httpOnly && scheme != "http" && scheme != "https" {
		return "uri scheme must be http or https"
	}
	return ""
}

func setAgreement(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateAgreement", locAll); err != "" {
		return err
	}
	w.props().caAgreement = argv[0]
	return ""
}

func setContact(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDContactEmail", locAll); err != "" {
		return err
	}
	w.props().contact = argv[0]
	return ""
}

func setProxy(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDHttpProxy", locAll); err != "" {
		return err
	}
	if msg := absURICheck(argv[0], true); msg != "" {
		return msg
	}
	if w.md != nil {
		w.md.props.proxyURL = argv[0]
	} else {
		w.cfg.mc.envProxyURL = argv[0]
	}
	return ""
}

func setCACerts(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCACertificateFile", locAll); err != "" {
		return err
	}
	if w.md != nil {
		w.md.props.caCerts = argv[0]
	} else {
		w.cfg.mc.envCACerts = argv[0]
	}
	return ""
}

func setProxyCACerts(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDHttpProxyCACertificateFile", locAll); err != "" {
		return err
	}
	if w.md != nil {
		w.md.props.proxyCACerts = argv[0]
	} else {
		w.cfg.mc.envProxyCACerts = argv[0]
	}
	return ""
}

func setEAB(w *walker, n *node, argv []string, _ string) string {
	const name = "MDExternalAccountBinding"
	if err := w.check(name, locAll); err != "" {
		return err
	}
	kid, hmac := argv[0], ""
	if len(argv) == 2 {
		hmac = argv[1]
	} else if strings.EqualFold(kid, "none") {
		kid = "none"
	} else {
		path := w.r.relative(kid)
		w.r.in.Path(path)
		data, err := fsread.ReadFile(path, fsread.MaxSmall)
		var fe *fsread.Error
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fsread.ErrNotRegular) && isDir(path):
			return name + ": file not found: " + path // mod_md's text
		case errors.As(err, &fe):
			return name + ": error reading JSON file " + path + ": " + fe.Reason
		case err != nil:
			return name + ": error reading JSON file " + path
		}
		var v struct {
			KID  any `json:"kid"`
			HMAC any `json:"hmac"`
		}
		if json.Unmarshal(data, &v) != nil {
			return name + ": error reading JSON file " + path
		}
		k, _ := v.KID.(string)
		if k == "" {
			return name + ": JSON does not contain 'kid' element in file " + path
		}
		h, _ := v.HMAC.(string)
		if h == "" {
			return name + ": JSON does not contain 'hmac' element in file " + path
		}
		kid, hmac = k, h
	}
	p := w.props()
	p.eabKID, p.eabHMAC = kid, hmac
	return ""
}

func setProfile(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDProfile", locAll); err != "" {
		return err
	}
	w.props().profile = argv[0]
	return ""
}

func setPreferredChain(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDPreferredChain", locAll); err != "" {
		return err
	}
	w.props().preferredChain = argv[0]
	return ""
}
