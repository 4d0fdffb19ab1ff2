package tomlconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
)

// maxEABFile bounds an EAB JSON file.
const maxEABFile = 64 << 10

func setEAB(p *parser, t *table, key string, v any, c *conf) {
	switch x := v.(type) {
	case string:
		if strings.EqualFold(x, "none") {
			c.eab = &md.EAB{KID: "none"}
			return
		}
		if x == "" {
			p.errorf(t, key, "empty path")
			return
		}
		path := p.abs(x)
		p.in.Path(path)
		e, err := readEABFile(path)
		if err != nil {
			p.errorf(t, key, "%v", err)
			return
		}
		c.eab = e
	case map[string]any:
		var e md.EAB
		for k, val := range x {
			switch k {
			case "kid", "hmac":
				s, ok := val.(string)
				if !ok || s == "" {
					p.errorf(t, key, "%s: want a non-empty string, got %s", k, typeName(val))
					return
				}
				if k == "kid" {
					e.KID = s
				} else {
					e.HMAC = s
				}
			default:
				p.errorf(t, key, "unknown key %q (want kid and hmac)", k)
				return
			}
		}
		if e.KID == "" || e.HMAC == "" {
			p.errorf(t, key, "needs both kid and hmac")
			return
		}
		c.eab = &e
	default:
		p.wantType(t, key, "{kid = \"...\", hmac = \"...\"}, a JSON file path or \"none\"", v)
	}
}

// readEABFile reads mod_md's EAB JSON file {"kid": ..., "hmac": ...}.
func readEABFile(path string) (*md.EAB, error) {
	data, err := fsread.ReadFile(path, maxEABFile)
	var fe *fsread.Error
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("file not found: %s", path)
	case errors.As(err, &fe):
		return nil, fmt.Errorf("error reading JSON file %s: %s", path, fe.Reason)
	case err != nil:
		return nil, fmt.Errorf("error reading JSON file %s: %v", path, unwrapPath(err))
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("error reading JSON file %s", path)
	}
	kid, _ := raw["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("JSON does not contain 'kid' element in file %s", path)
	}
	hmac, _ := raw["hmac"].(string)
	if hmac == "" {
		return nil, fmt.Errorf("JSON does not contain 'hmac' element in file %s", path)
	}
	return &md.EAB{KID: kid, HMAC: hmac}, nil
}

func setProfile(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		p.errorf(t, key, "invalid profile name %q", s)
		return
	}
	c.profile = &s
}

func setPreferredChain(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if strings.TrimSpace(s) == "" {
		p.errorf(t, key, "preferred-chain needs an issuer common name")
		return
	}
	c.preferredChain = &s
}

func setProxy(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	if e := httpURICheck(s); e != "" {
		p.errorf(t, key, "%s", e)
		return
	}
	c.proxy = &s
}

func setCAFile(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		s, ok := p.str(t, key, v)
		if !ok {
			return
		}
		if s == "" {
			p.errorf(t, key, "empty path")
			return
		}
		if !strings.EqualFold(s, "none") {
			s = p.abs(s)
		} else {
			s = "none"
		}
		*field(c) = &s
	}
}

func setFiles(field func(*conf) *[]string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		var list []string
		if s, ok := v.(string); ok {
			list = []string{s}
		} else {
			var ok bool
			if list, ok = p.strList(t, key, v, false); !ok {
				return
			}
		}
		if len(list) == 0 {
			p.errorf(t, key, "needs at least one file")
			return
		}
		out := make([]string, 0, len(list))
		for _, s := range list {
			if s == "" {
				p.errorf(t, key, "empty path")
				return
			}
			out = append(out, p.abs(s))
		}
		*field(c) = out
	}
}

// setParsed stores a string that parse accepted (parse reports its own
// errors): paths, listen addresses, user/group names, file modes.
func setParsed(parse func(*parser, *table, string, any) (string, bool), field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		if s, ok := parse(p, t, key, v); ok {
			*field(c) = &s
		}
	}
}

func setPath(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).path, field)
}

func setListen(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).listenAddr, field)
}

func setAccount(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).account, field)
}

func setMode(field func(*conf) **string) func(*parser, *table, string, any, *conf) {
	return setParsed((*parser).fileMode, field)
}

func setStoreDir(p *parser, t *table, key string, v any, c *conf) {
	if s, ok := v.(string); ok && strings.HasPrefix(s, "etcd://") {
		c.settings.StoreDir = s // an etcd store, not a path
		return
	}
	if s, ok := p.path(t, key, v); ok {
		c.settings.StoreDir = s
	}
}

func setCmd(field func(*conf) *[]string) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		if args, ok := p.argv(t, key, v); ok {
			*field(c) = args
		}
	}
}

func setDNS01Version(p *parser, t *table, key string, v any, c *conf) {
	n, ok := p.integer(t, key, v)
	if !ok {
		return
	}
	if n != 1 && n != 2 {
		p.errorf(t, key, "Only versions `1` and `2` are supported")
		return
	}
	c.settings.DNS01Version = n
}

func setPortMap(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	maps := strings.Fields(s)
	if len(maps) == 0 || len(maps) > 2 {
		p.errorf(t, key, "want one or two mappings like \"http:80 https:443\"")
		return
	}
	pm := md.DefaultPortMap
	for _, m := range maps {
		if err := parsePortMap(m, &pm); err != nil {
			p.errorf(t, key, "%v", err)
			return
		}
	}
	c.portMap = &pm
}

// parsePortMap parses one MDPortMap argument with mod_md's rules and texts.
func parsePortMap(s string, pm *md.PortMap) error {
	var net string
	var rest string
	switch {
	case strings.HasPrefix(s, "http:"):
		net, rest = "80", s[len("http:"):]
	case strings.HasPrefix(s, "https:"):
		net, rest = "443", s[len("https:"):]
	default:
		i := strings.IndexByte(s, ':')
		if i < 0 {
			j := 0
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == 0 {
				return errors.New("unable to parse first port number")
			}
			return errors.New("no ':' after first port number")
		}
		net, rest = s[:i], s[i+1:]
		if _, err := strconv.Atoi(net); err != nil {
			return errors.New("unable to parse first port number")
		}
	}
	local := 0
	if !strings.HasPrefix(rest, "-") {
		n, err := strconv.Atoi(rest)
		if err != nil {
			return errors.New("unable to parse second port number")
		}
		if n <= 0 || n > 65535 {
			return errors.New("invalid number for port map, must be in ]0,65535]")
		}
		local = n
	}
	switch net {
	case "80":
		pm.HTTP = local
	case "443":
		pm.HTTPS = local
	default:
		return errors.New("mapped port number must be 80 or 443")
	}
	return nil
}

func setRetryDelay(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	d, err := md.ParseDuration(s, time.Second)
	if err != nil {
		p.errorf(t, key, "unrecognized duration format")
		return
	}
	if d <= 0 {
		p.errorf(t, key, "minimum delay must be greater than 0")
		return
	}
	c.settings.RetryDelay = md.FormatDuration(d)
}

func setRetryFailover(p *parser, t *table, key string, v any, c *conf) {
	n, ok := p.integer(t, key, v)
	if !ok {
		return
	}
	if n <= 0 {
		p.errorf(t, key, "invalid argument, must be a number > 0")
		return
	}
	c.settings.RetryFailover = n
}

func setActivationDelay(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	d, err := md.ParseDuration(s, md.Day)
	if err != nil {
		p.errorf(t, key, "unrecognized duration format")
		return
	}
	c.settings.ActivationDelay = md.FormatDuration(d)
}

func setCheckInterval(p *parser, t *table, key string, v any, c *conf) {
	s, ok := p.str(t, key, v)
	if !ok {
		return
	}
	d, err := md.ParseDuration(s, time.Second)
	if err != nil {
		p.errorf(t, key, "unrecognized duration format")
		return
	}
	if d < time.Second {
		p.errorf(t, key, "check interval cannot be less than one second")
		return
	}
	c.settings.CheckInterval = md.FormatDuration(d)
}

func setStaplingWindow(field func(*conf) *string, limit bool) func(*parser, *table, string, any, *conf) {
	return func(p *parser, t *table, key string, v any, c *conf) {
		s, ok := p.str(t, key, v)
		if !ok {
			return
		}
		ts, err := md.ParseTimeslice(s, md.Day)
		if err != nil && !(errors.Is(err, md.ErrWindowTooLarge) && !limit) {
			p.errorf(t, key, "%v", err)
			return
		}
		if err != nil { // keep-response accepts 100% and more of its 7d norm
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
			ts = md.Timeslice{Percent: n, IsPercent: true}
		}
		*field(c) = ts.String()
	}
}
