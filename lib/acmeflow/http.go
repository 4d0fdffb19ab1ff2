package acmeflow

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mdtools/mdtools/lib/breaker"
	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/httpproxy"
)

// HTTPOptions configure the HTTP client for one CA.
type HTTPOptions struct {
	ProxyURL string   // MDHttpProxy; "" = none (the environment is not consulted)
	CAFiles  []string // PEM roots trusted in addition to the system's (MDCACertificateFile, --ca-file)
	// ProxyCAFile holds the PEM roots that signed an https:// proxy's
	// certificate (MDHttpProxyCACertificateFile); "" or "none": the system's.
	ProxyCAFile string
	Timeout     time.Duration
}

// HTTPClient builds the client for the ACME connection: an explicit proxy,
// extra trusted roots, bounded connect and overall times.
func HTTPClient(o HTTPOptions) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	for _, f := range o.CAFiles {
		if f == "" || f == "none" {
			continue
		}
		// bounded: --ca-file /dev/zero must fail, not fill memory
		data, err := fsread.ReadFile(f, fsread.MaxPEM)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificate file: %w", err)
		}
		if !roots.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("CA certificate file %s: no PEM certificate found", f)
		}
	}
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	if err := httpproxy.Configure(tr, o.ProxyURL, o.ProxyCAFile); err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	// A CA that stops answering fails the remaining MDs at once instead
	// of costing each its timeout (lib/breaker); nonces and the directory
	// do not count, a hung CA may still serve them.
	b := &breaker.Transport{Next: tr, What: "the CA", Counts: func(r *http.Request) bool { return r.Method == http.MethodPost }}
	return &http.Client{Transport: b, Timeout: timeout}, nil
}

// maxResponse bounds what is read from a CA response (mod_md: 1 MiB).
const maxResponse = 1 << 20

// retryPolicy is the acme.Client retry policy, reading an HTTP-date
// Retry-After against the clock now: bad nonces are retried (mod_md: up to
// 9 times), server errors a few times quickly, and a Retry-After longer than
// a few seconds is not waited for: the error (with its Retry-After) goes
// back to the job's backoff instead.
func retryPolicy(now func() time.Time) func(n int, r *http.Request, res *http.Response) time.Duration {
	return func(n int, r *http.Request, res *http.Response) time.Duration {
		return retryBackoff(n, res, now)
	}
}

// clockOr is now, or the wall clock when now is nil.
func clockOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func retryBackoff(n int, res *http.Response, now func() time.Time) time.Duration {
	if n > 9 {
		return 0
	}
	if res != nil {
		if v := res.Header.Get("Retry-After"); v != "" {
			d := parseRetryAfter(v, now())
			if d > 3*time.Second {
				return 0
			}
			if d <= 0 {
				d = 100 * time.Millisecond
			}
			return d
		}
		if res.StatusCode >= 500 && n > 3 {
			return 0
		}
		if res.StatusCode == http.StatusTooManyRequests {
			return 0
		}
	}
	return time.Duration(n) * 50 * time.Millisecond
}

// parseRetryAfter reads a Retry-After value (seconds or an HTTP date).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s > 1<<31 { // no overflow; renew.CapRetryAfter caps it anyway
			s = 1 << 31
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

var errTooLarge = errors.New("response larger than 1 MiB")
