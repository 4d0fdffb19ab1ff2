package install

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
)

// runReload runs the reload command once, as lib/event runs commands: no
// shell, stdin closed, output captured, the process group killed after the
// timeout. A program name without '/' is looked up in $PATH (unlike
// MDMessageCmd), so "systemctl reload nginx" works.
func runReload(ctx context.Context, argv []string, timeout time.Duration, log logger.Logger) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("empty reload command")
	}
	argv = append([]string(nil), argv...)
	if !strings.Contains(argv[0], "/") {
		p, err := exec.LookPath(argv[0])
		if err != nil {
			return fmt.Errorf("reload command: %w", err)
		}
		argv[0] = p
	}
	res := event.Run(ctx, argv, timeout)
	event.LogOutput(log, argv[0], res)
	if !res.Failed() {
		return nil
	}
	msg := strings.TrimSpace(string(res.Stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(res.Stdout))
	}
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	why := fmt.Sprintf("exit code %d", res.ExitCode)
	if res.Err != nil {
		why = res.Err.Error()
	}
	if msg != "" {
		return fmt.Errorf("reload command %s failed (%s): %s", strings.Join(argv, " "), why, msg)
	}
	return fmt.Errorf("reload command %s failed (%s)", strings.Join(argv, " "), why)
}

// target is one place where a name's certificate is checked.
type target struct {
	name string // SNI
	addr string // host:port
}

// verifyTargets lists where to check an MD: each non-wildcard name at each
// https address of its SSL vhosts, else at host.https-addr, else at
// 127.0.0.1 on the MDPortMap https port (default 443).
func verifyTargets(rec *md.Record, defaultAddr string) []target {
	var addrs []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	if rec.Host != nil && rec.Host.HTTPSAddr != "" {
		add(dialAddr(rec.Host.HTTPSAddr))
	}
	for _, v := range rec.Vhosts {
		if !v.SSL {
			continue
		}
		for _, a := range v.Addresses {
			add(dialAddr(a))
		}
	}
	if len(addrs) == 0 {
		port := 443
		if rec.Settings != nil && rec.Settings.PortMap != nil && rec.Settings.PortMap.HTTPS > 0 {
			port = rec.Settings.PortMap.HTTPS
		}
		if defaultAddr != "" {
			add(dialAddr(defaultAddr))
		} else {
			add(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
	}
	var ts []target
	for _, d := range rec.Domains {
		if md.IsWildcard(d) {
			continue
		}
		for _, a := range addrs {
			if md.IsIP(d) {
				// an IP address (RFC 8738) is checked where clients
				// reach it: at the address itself, on the vhost's port
				_, port, _ := net.SplitHostPort(a)
				a = net.JoinHostPort(d, port)
				if slices.Contains(ts, target{name: d, addr: a}) {
					continue
				}
			}
			ts = append(ts, target{name: d, addr: a})
		}
	}
	return ts
}

// dialAddr turns a vhost address ("*:443", "_default_:443", "[::]:8443",
// "443") into something to dial: wildcard hosts become loopback.
func dialAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if _, perr := strconv.Atoi(a); perr == nil {
			return net.JoinHostPort("127.0.0.1", a)
		}
		return net.JoinHostPort(a, "443")
	}
	switch host {
	case "", "*", "_default_", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// servedLeaf connects to t and returns the fingerprint of the leaf served
// for its name (sent as SNI; an IP address is not, RFC 6066 §3).
func servedLeaf(ctx context.Context, t target) (string, error) {
	sni := t.name
	if md.IsIP(sni) {
		sni = ""
	}
	d := tls.Dialer{Config: &tls.Config{ServerName: sni, InsecureSkipVerify: true}, NetDialer: &net.Dialer{Timeout: 3 * time.Second}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("no certificate served")
	}
	return Fingerprint(certs[0]), nil
}

// verifyServed polls the targets until each serves one of the wanted
// fingerprints, or until timeout. It returns nil when all do, else an
// error that says what is served where.
func verifyServed(ctx context.Context, ts []target, want map[string]bool, old map[string]bool, timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	pending := ts
	for {
		var still []target
		var last []string
		for _, t := range pending {
			fp, err := servedLeaf(ctx, t)
			switch {
			case err == nil && want[fp]:
				continue
			case err != nil:
				last = append(last, fmt.Sprintf("%s at %s: %v", t.name, t.addr, err))
			case old[fp]:
				last = append(last, fmt.Sprintf("%s at %s still serves the previous certificate (sha256 %s)", t.name, t.addr, short(fp)))
			default:
				last = append(last, fmt.Sprintf("%s at %s serves another certificate (sha256 %s)", t.name, t.addr, short(fp)))
			}
			still = append(still, t)
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		if time.Now().Add(interval).After(deadline) {
			return errors.New(strings.Join(last, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16] + "..."
	}
	return fp
}
