package staple

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mdtools/mdtools/lib/httpproxy"
)

// Limits of one request. A responder that hangs or sends more than this is
// a failed attempt; the stored response stays.
const (
	DefaultTimeout      = 10 * time.Second
	MaxOCSPResponseSize = 64 << 10 // real responses are 1-5 KiB
	MaxCRLSize          = 32 << 20
	DefaultParallel     = 6 // mod_md's "magic number in HTTP"
)

// NewHTTPClient returns the client for responders and CRL servers: the
// given proxy (MDHttpProxy) if any, else the environment's
// (HTTP_PROXY/NO_PROXY), and a timeout for the whole exchange. proxyCA
// (MDHttpProxyCACertificateFile) holds the roots of an https:// proxy's
// certificate.
func NewHTTPClient(proxy, proxyCA string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if err := httpproxy.Configure(tr, proxy, proxyCA); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// userAgent is sent with every request.
var userAgent = "md-staple"

// SetUserAgent sets the User-Agent header (e.g. "md-staple/v1.2").
func SetUserAgent(ua string) { userAgent = ua }

// postOCSP sends an OCSP request and returns the body of a 200 answer.
func postOCSP(ctx context.Context, c *http.Client, responder string, req []byte) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, responder, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("responder URL %q: %w", responder, err)
	}
	hr.Header.Set("Content-Type", "application/ocsp-request")
	hr.Header.Set("Accept", "application/ocsp-response")
	return do(c, hr, MaxOCSPResponseSize)
}

// getCRL downloads a CRL.
func getCRL(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("CRL URL %q: %w", u, err)
	}
	return do(c, hr, MaxCRLSize)
}

func do(c *http.Client, hr *http.Request, limit int64) ([]byte, error) {
	hr.Header.Set("User-Agent", userAgent)
	resp, err := c.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return nil, fmt.Errorf("no answer from %s within %s", hr.URL.Redacted(), c.Timeout)
			}
			err = ue.Err
		}
		return nil, fmt.Errorf("contacting %s: %w", hr.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered HTTP %d", hr.URL.Redacted(), resp.StatusCode)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%s sent %d bytes, more than the limit of %d", hr.URL.Redacted(), resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		var ue interface{ Timeout() bool }
		if errors.As(err, &ue) && ue.Timeout() {
			return nil, fmt.Errorf("reading the answer of %s: no complete answer within %s", hr.URL.Redacted(), c.Timeout)
		}
		return nil, fmt.Errorf("reading the answer of %s: %w", hr.URL.Redacted(), err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s sent more than the limit of %d bytes", hr.URL.Redacted(), limit)
	}
	return body, nil
}
