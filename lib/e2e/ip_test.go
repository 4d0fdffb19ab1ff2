package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
)

// deployServer is a TLS server on host that serves, at every handshake,
// the deployed fullchain and key of an MD (what a web server does after
// md-install's reload).
func deployServer(t *testing.T, host, deployDir string) string {
	t.Helper()
	return tlsServer(t, host, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(filepath.Join(deployDir, "fullchain.pem"), filepath.Join(deployDir, "privkey.pem"))
		return &c, err
	})
}

// TestIPAddressCertificates obtains certificates for IPv4 and IPv6
// addresses (RFC 8738) from Pebble through http-01 and tls-alpn-01, alone
// and next to a DNS name, installs them, checks that they are served at
// the address (TLS without SNI, verified against the address), and
// staples them.
func TestIPAddressCertificates(t *testing.T) {
	ca, _, roots := ocspCA(t)
	for _, tc := range []struct {
		name      string
		domains   []string
		challenge string
		host      string // where the responder, the web server and Pebble meet
	}{
		{"ipv4 http-01", []string{"127.0.0.1"}, "http-01", "127.0.0.1"},
		{"ipv4 tls-alpn-01", []string{"127.0.0.1"}, "tls-alpn-01", "127.0.0.1"},
		{"ipv6 http-01", []string{"::1"}, "http-01", "::1"},
		{"ipv6 tls-alpn-01", []string{"::1"}, "tls-alpn-01", "::1"},
		{"mixed dns and ipv4", []string{"ip.test", "127.0.0.1"}, "http-01", "127.0.0.1"},
		// written "0:0::1", kept and ordered as "::1"
		{"ipv6 non-canonical spelling", []string{"0:0::1"}, "http-01", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			storeDir, deploy := filepath.Join(dir, "store"), filepath.Join(dir, "deploy")
			mdName := strings.ReplaceAll(tc.domains[0], "0:0::1", "::1")
			served := deployServer(t, tc.host, filepath.Join(deploy, mdName))
			listen := fmt.Sprintf("http-listen = %q", net.JoinHostPort(tc.host, fmt.Sprint(ca.HTTPPort)))
			if tc.challenge == "tls-alpn-01" {
				listen = fmt.Sprintf("tls-listen = %q", net.JoinHostPort(tc.host, fmt.Sprint(ca.TLSPort)))
			}
			quoted := make([]string, len(tc.domains))
			for i, d := range tc.domains {
				quoted[i] = fmt.Sprintf("%q", d)
			}
			conf := filepath.Join(dir, "md.toml")
			writeFile(t, conf, fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
certificate-agreement = "accepted"
contact-email = "admin@ip.test"
port-map = "http:%d https:%d"
deploy-dir = %q
stapling = true

[[domain]]
domains = [%s]
ca-challenges = [%q]
%s
https-addr = %q
`, ca.DirectoryURL, ca.RootsFile, ca.HTTPPort, ca.TLSPort, deploy, strings.Join(quoted, ", "), tc.challenge, listen, served))
			e := &env{ca: ca, store: storeDir}
			parse := e.run(t, nil, "md-parse", conf)
			order := e.run(t, parse.stdout, "md-order")
			install := e.run(t, order.stdout, "md-install", "--reload-cmd", "/bin/true")
			staple := e.run(t, install.stdout, "md-staple")
			if parse.code != 0 || order.code != 0 || install.code != 0 || staple.code != 0 {
				t.Fatalf("exit codes parse %d order %d install %d staple %d\n%s%s%s%s", parse.code, order.code, install.code, staple.code,
					parse.stderr, order.stderr, install.stderr, staple.stderr)
			}
			recs := install.records(t)
			if len(recs) != 1 || recs[0].Name != mdName || recs[0].Install == nil || recs[0].Install.Served == nil || !*recs[0].Install.Served {
				t.Fatalf("install records: %s\n%s", install.stdout, install.stderr)
			}
			if s := staple.records(t); len(s) != 1 || s[0].Staple == nil || len(s[0].Staple.Responses) != 1 || s[0].Staple.Responses[0].Status != "good" {
				t.Errorf("staple records: %s", staple.stdout)
			}
			status := e.run(t, nil, "md-status", "--text", mdName)
			if status.code != 0 || !strings.Contains(string(status.stdout), strings.Join(recs[0].Domains, ", ")) {
				t.Errorf("md-status --text %s: exit %d, no names line with %q\n%s%s", mdName, status.code, recs[0].Domains, status.stdout, status.stderr)
			}
			st, err := store.OpenReadOnly(storeDir)
			if err != nil {
				t.Fatal(err)
			}
			chain, err := st.LoadChain(t.Context(), store.GroupDomains, mdName, "pubcert.pem")
			if err != nil {
				t.Fatal(err)
			}
			ips := 0
			for _, d := range recs[0].Domains {
				if ip := net.ParseIP(d); ip != nil {
					ips++
					if err := chain[0].VerifyHostname(ip.String()); err != nil {
						t.Errorf("live certificate: %v", err)
					}
				}
			}
			if len(chain[0].IPAddresses) != ips || len(chain[0].DNSNames) != len(tc.domains)-ips {
				t.Errorf("live certificate has DNS SANs %q and IP SANs %v; want %q", chain[0].DNSNames, chain[0].IPAddresses, tc.domains)
			}
			// A client reaching the address: no SNI, the certificate
			// verified for the address.
			ip := net.ParseIP(tc.host).String()
			conn, err := tls.Dial("tcp", served, &tls.Config{ServerName: ip, RootCAs: roots, InsecureSkipVerify: false,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if cs.ServerName != "" {
						return fmt.Errorf("SNI %q sent for an address", cs.ServerName)
					}
					return nil
				}})
			if err != nil {
				t.Fatalf("TLS to %s for %s: %v", served, ip, err)
			}
			if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(chain[0]) {
				t.Errorf("the server at %s serves %s, not the live certificate", served, got.Subject)
			}
			conn.Close()
		})
	}
}

// TestIPAddressDNS01Refused: an MD with an IP address whose only challenge
// is dns-01 fails before anything is ordered, with a message that says why.
func TestIPAddressDNS01Refused(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir := t.TempDir()
	conf := filepath.Join(dir, "md.toml")
	writeFile(t, conf, fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
certificate-agreement = "accepted"
contact-email = "admin@ip.test"

[[domain]]
domains = ["ip.test", "192.0.2.10"]
ca-challenges = ["dns-01"]
challenge-dns01 = ["/bin/true"]
`, ca.DirectoryURL, ca.RootsFile))
	e := &env{ca: ca, store: filepath.Join(dir, "store"), pebbleLog: filepath.Join(ca.Dir, "pebble.log")}
	parse := e.run(t, nil, "md-parse", conf)
	order := e.run(t, parse.stdout, "md-order")
	if order.code != 1 {
		t.Fatalf("md-order exit %d; want 1\n%s", order.code, order.stderr)
	}
	recs := order.records(t)
	if len(recs) != 1 || recs[0].Error == nil || !strings.Contains(recs[0].Error.Detail, "192.0.2.10 is an IP address, which CAs validate only with http-01 or tls-alpn-01") {
		t.Fatalf("record: %s", order.stdout)
	}
	if n := e.pebbleOrders(t); n != 0 {
		t.Errorf("Pebble has %d orders; want none", n)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
