package apacheconf

import (
	"os"
	"strconv"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

func onOff(name, v string) (bool, string) {
	switch strings.ToLower(v) {
	case "on":
		return true, ""
	case "off":
		return false, ""
	}
	return false, "unknown '" + v + "', supported parameter values are 'on' and 'off'"
}

func setTransitive(p **int, v string) bool {
	switch strings.ToLower(v) {
	case "auto":
		one := 1
		*p = &one
	case "manual":
		zero := 0
		*p = &zero
	default:
		return false
	}
	return true
}

func onOffProp(field func(*props) **bool) func(*walker, *node, []string, string) string {
	return onOffInto(func(w *walker) **bool { return field(w.props()) })
}

func globalOnOff(field func(*modConf) **bool) func(*walker, *node, []string, string) string {
	return onOffInto(func(w *walker) **bool { return field(&w.cfg.mc) })
}

// onOffInto is an on|off directive allowed everywhere, stored where
// target points (an MD's or vhost's props, or the global config).
func onOffInto(target func(*walker) **bool) func(*walker, *node, []string, string) string {
	return func(w *walker, n *node, argv []string, _ string) string {
		d := mdDirectives[n.key]
		if err := w.check(d.name, locAll); err != "" {
			return err
		}
		v, err := onOff(d.name, argv[0])
		if err != "" {
			return err
		}
		*target(w) = &v
		return ""
	}
}

func setMDomain(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDomain", locNotMD); err != "" {
		return err
	}
	def, err := w.newMD(n, argv)
	if err != "" {
		return err
	}
	w.cfg.mds = append(w.cfg.mds, def)
	return ""
}

func setMembers(w *walker, n *node, argv []string, _ string) string {
	d := mdDirectives[n.key]
	if w.md == nil {
		if len(argv) == 1 {
			if !setTransitive(&w.props().transitive, argv[0]) {
				return "unknown value, use \"auto|manual\""
			}
			return ""
		}
		return d.name + " is only valid inside a '<MDomainSet' context, not here"
	}
	for _, a := range argv {
		if !setTransitive(&w.md.props.transitive, a) {
			w.md.domains.Add(a)
		}
	}
	return ""
}

func setChallenges(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCAChallenges", locAll); err != "" {
		return err
	}
	p := w.props()
	p.caChallenges, p.caChallengesSet = append([]string{}, argv...), true
	return ""
}

func setProto(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateProtocol", locAll); err != "" {
		return err
	}
	w.props().caProto = argv[0]
	return ""
}

func setRenewMode(w *walker, n *node, argv []string, _ string) string {
	var m int
	switch strings.ToLower(argv[0]) {
	case "auto", "automatic":
		m = md.RenewAuto
	case "always":
		m = md.RenewAlways
	case "manual", "stick":
		m = md.RenewManual
	default:
		return "unknown MDDriveMode " + argv[0]
	}
	if err := w.check(mdDirectives[n.key].name, locAll); err != "" {
		return err
	}
	w.props().renewMode = &m
	return ""
}

func setPortMap(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDPortMap", locNotMD); err != "" {
		return err
	}
	for _, v := range argv {
		if err := w.portMap(v); err != "" {
			return err
		}
	}
	return ""
}

func (w *walker) portMap(v string) string {
	var net int
	var rest string
	switch {
	case strings.HasPrefix(v, "http:"):
		net, rest = 80, v[4:]
	case strings.HasPrefix(v, "https:"):
		net, rest = 443, v[5:]
	default:
		i := 0
		for i < len(v) && (v[i] >= '0' && v[i] <= '9' || (i == 0 && (v[i] == '-' || v[i] == '+'))) {
			i++
		}
		n, err := strconv.Atoi(v[:i])
		if err != nil && i > 0 {
			return "unable to parse first port number"
		}
		net, rest = n, v[i:]
	}
	if !strings.HasPrefix(rest, ":") {
		return "no ':' after first port number"
	}
	rest = rest[1:]
	local := 0
	if !strings.HasPrefix(rest, "-") {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || (i == 0 && rest[i] == '+')) {
			i++
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil && i > 0 {
			return "unable to parse second port number"
		}
		if n <= 0 || n > 65535 {
			return "invalid number for port map, must be in ]0,65535]"
		}
		local = int(n)
	}
	switch net {
	case 80:
		w.cfg.mc.local80 = local
	case 443:
		w.cfg.mc.local443 = local
	default:
		return "mapped port number must be 80 or 443"
	}
	w.cfg.mc.portMapSet = true
	return ""
}

func setPKeys(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDPrivateKeys", locAll); err != "" {
		return err
	}
	ks, err := md.ParseKeySpecs(argv)
	if err != nil {
		return err.Error()
	}
	for _, k := range ks {
		if _, ok := md.CurveName(k.Curve); k.Type == md.KeyEC && !ok {
			w.r.warnf(n.file, n.line, "MDPrivateKeys: mod_md accepts the curve '%s' but md-order can only make P-256, P-384, P-521 and RSA keys", k.Curve)
		}
	}
	w.props().pks = ks
	return ""
}

func setStoreDir(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStoreDir", locNotMD); err != "" {
		return err
	}
	w.cfg.mc.storeDir = argv[0]
	w.cfg.mc.storeDirFile = n.file
	return ""
}

func setRequireHTTPS(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDRequireHttps", locAll); err != "" {
		return err
	}
	var v string
	switch strings.ToLower(argv[0]) {
	case "off":
	case "temporary":
		v = "temporary"
	case "permanent":
		v = "permanent"
	default:
		return "unknown '" + argv[0] + "', supported parameter values are 'temporary' and 'permanent'"
	}
	w.props().requireHTTPS = &v
	return ""
}

func setNotifyCmd(w *walker, n *node, _ []string, raw string) string {
	if err := w.check("MDNotifyCmd", locNotMD); err != "" {
		return err
	}
	w.cfg.mc.notifyCmd = raw
	return ""
}

func setMessageCmd(w *walker, n *node, _ []string, raw string) string {
	if err := w.check("MDMessageCmd", locNotMD); err != "" {
		return err
	}
	w.cfg.mc.messageCmd = raw
	return ""
}

func setBaseServer(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDBaseServer", locNotMD); err != "" {
		return err
	}
	v, err := onOff("MDBaseServer", argv[0])
	if err != "" {
		return err
	}
	w.cfg.mc.baseServer = v
	return ""
}

func setDNS01Cmd(w *walker, n *node, _ []string, raw string) string {
	if err := w.check("MDChallengeDns01", locAll); err != "" {
		return err
	}
	if w.md != nil {
		w.md.props.dns01Cmd = raw
	} else {
		w.cfg.mc.envDNS01Cmd = raw
	}
	return ""
}

func setDNS01Version(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDChallengeDns01Version", locNotMD); err != "" {
		return err
	}
	switch argv[0] {
	case "1":
		w.cfg.mc.dns01Version = 1
	case "2":
		w.cfg.mc.dns01Version = 2
	default:
		return "Only versions `1` and `2` are supported"
	}
	return ""
}

func addCertFile(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateFile", locMD); err != "" {
		return err
	}
	w.md.certFiles = append(w.md.certFiles, w.r.relative(argv[0]))
	return ""
}

func addKeyFile(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateKeyFile", locMD); err != "" {
		return err
	}
	w.md.keyFiles = append(w.md.keyFiles, w.r.relative(argv[0]))
	return ""
}

func setCertCheck(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCertificateCheck", locAll); err != "" {
		return err
	}
	w.cfg.mc.certCheckName, w.cfg.mc.certCheckURL = argv[0], argv[1]
	return ""
}

func setMatchNames(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDMatchNames", locNotMD); err != "" {
		return err
	}
	switch strings.ToLower(argv[0]) {
	case "all":
		w.cfg.mc.matchServerNames = false
	case "servernames":
		w.cfg.mc.matchServerNames = true
	default:
		return "invalid argument, must be a 'all' or 'servernames'"
	}
	return ""
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
