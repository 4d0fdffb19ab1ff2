// Package httpproxy sets up the way to the outside through MDHttpProxy: the
// proxy URL for an http.Transport and, for an https:// proxy, the trust
// roots of the TLS connection to the proxy itself
// (MDHttpProxyCACertificateFile). These roots are only for the proxy: the
// CA or OCSP responder behind it is verified as without a proxy.
package httpproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
)

// ParseURL checks an MDHttpProxy value: an http:// or https:// URL with
// a host.
func ParseURL(proxy string) (*url.URL, error) {
	u, err := url.Parse(proxy)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("proxy URL %q: want http://host:port or https://host:port", proxy)
	}
	return u, nil
}

// Configure routes tr through proxy ("" leaves tr.Proxy as it is). For an
// https:// proxy, the proxy's certificate is verified against the system
// roots plus the PEM certificates in caFile ("" or "none": the system
// roots only); a proxy with a private CA and no caFile is refused with an
// error that says so. caFile is ignored for an http:// proxy, as mod_md
// ignores it.
func Configure(tr *http.Transport, proxy, caFile string) error {
	if proxy == "" {
		return nil
	}
	u, err := ParseURL(proxy)
	if err != nil {
		return err
	}
	tr.Proxy = http.ProxyURL(u)
	if u.Scheme != "https" {
		return nil
	}
	roots, err := Roots(caFile)
	if err != nil {
		return err
	}
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	// The transport dials its first hop, the https proxy, with
	// DialTLSContext; TLSClientConfig stays for the origin behind it.
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, proxyTLSError(u, caFile, err)
		}
		return tc, nil
	}
	return nil
}

// proxyTLSError says which certificate failed and what to configure.
func proxyTLSError(u *url.URL, caFile string, err error) error {
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		return fmt.Errorf("TLS connection to the HTTPS proxy %s: %w", u.Host, err)
	}
	if caFile == "" || caFile == "none" {
		return fmt.Errorf("the HTTPS proxy %s presents a certificate from an unknown CA (%w); "+
			"set MDHttpProxyCACertificateFile (md.toml: http-proxy-ca-certificate-file) to the PEM file of the CA that signed it", u.Host, err)
	}
	return fmt.Errorf("the HTTPS proxy %s presents a certificate not signed by a CA in %s (%w)", u.Host, caFile, err)
}

// Roots is the system pool plus the certificates of caFile ("" or "none":
// the system pool alone).
func Roots(caFile string) (*x509.CertPool, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile == "" || caFile == "none" {
		return roots, nil
	}
	data, err := fsread.ReadFile(caFile, fsread.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("reading MDHttpProxyCACertificateFile: %w", err)
	}
	if !roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("MDHttpProxyCACertificateFile %s: no PEM certificate found", caFile)
	}
	return roots, nil
}
