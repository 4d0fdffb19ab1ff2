// Package e2e holds the end-to-end test of mdtools: it builds the real
// commands (go build ./cmd/...) and runs them as a cron job would, against
// a real Pebble ACME CA (lib/devca), a real OCSP responder and a real Apache
// httpd (Debian's /usr/sbin/apache2 with its own ServerRoot and config on
// free loopback ports):
//
//	md-parse httpd.conf | md-order | md-install | md-staple
//
// It checks first issuance (the test's own TLS client sees the new
// certificate served by Apache), a second cycle that does nothing, a forced
// renewal and one the CA asks for through ARI (RFC 9773), each swapping the
// served certificate, a CA outage during a renewal
// that keeps the old certificate served and is reported by md-status, the
// MDMessageCmd/MDNotifyCmd events in their documented order, and one run of
// scripts/md-renew. A second test runs scripts/md-renew on an md.toml (a
// dns-01 wildcard through testdata/challenge/dns01-hook, tls-alpn-01 on
// md-order's listener with RSA and ECDSA keys, PEM files deployed), twice,
// then with its lock taken (exit 3) and with a bad config (exit 2). A third
// runs scripts/demo (make demo) and checks that it leaves nothing behind,
// and that it exits 1 when a step fails. TestCronContract runs md-renew as
// cron does on an MD no challenge can answer, over runs with the store's
// clock moved forward: every run while it fails (backoff included) exits 1
// with a FAILING line, with --syslog on stdout too, no order is created at
// the CA; once fixed it is ordered; an idle run prints nothing.
// The package has no non-test code.
package e2e
