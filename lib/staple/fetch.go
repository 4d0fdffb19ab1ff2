package staple

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/breaker"
	"github.com/mdtools/mdtools/lib/httpproxy"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
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
func NewHTTPClient(proxy, proxyCA string, timeout time.Duration, now func() time.Time) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if err := httpproxy.Configure(tr, proxy, proxyCA); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// A responder that stops answering fails the remaining certificates
	// at once instead of costing each the timeout (lib/breaker).
	b := &breaker.Transport{Next: tr, What: "the server", Now: now}
	return &http.Client{Transport: b, Timeout: timeout}, nil
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

// fetchAll runs the due work with at most Parallel requests at a time,
// counted over the whole run: RunRecord calls it for many sets at once.
func (r *Runner) fetchAll(ctx context.Context, all []*work) {
	slots := r.requestSlots()
	pool.Each(len(all), cap(slots), func(i int) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-ctx.Done(): // the request fails at once
		}
		r.fetch(ctx, all[i])
	})
}

// requestSlots is the run's bound on requests in flight.
func (r *Runner) requestSlots() chan struct{} {
	r.reqOnce.Do(func() {
		n := r.Parallel
		if n <= 0 {
			n = DefaultParallel
		}
		r.reqs = make(chan struct{}, n)
	})
	return r.reqs
}

// fetch gets and verifies one response (or CRL verdict).
func (r *Runner) fetch(ctx context.Context, w *work) {
	t, e := w.t, w.entry
	if err := t.parse(); err != nil {
		if t.leaf != nil { // a chain without issuer: nothing to ask
			err = &skipError{err}
		}
		w.err = err
		return
	}
	if now := r.now(); now.After(t.leaf.NotAfter) {
		w.err = &skipError{fmt.Errorf("the certificate expired at %s: no OCSP for it", t.leaf.NotAfter.UTC().Format(httpTime))}
		return
	}
	proxy, proxyCA := "", ""
	if w.set.Settings != nil {
		proxy, proxyCA = w.set.Settings.HTTPProxy, w.set.Settings.ProxyCACerts
	}
	client, err := r.client(proxy, proxyCA)
	if err != nil {
		w.err = err
		return
	}
	if t.ocspURL == "" {
		e.Source, e.Responder, e.CRL = "crl", "", t.crlURL
		if t.crlURL == "" {
			w.err = &skipError{errNoRevocationSource}
			return
		}
		e.Detail = noOCSPDetail
		w.crl, w.err = r.checkCRL(ctx, client, w.set.Group, t)
		return
	}
	e.Source, e.Responder = "ocsp", t.ocspURL
	req, err := Request(t.leaf, t.issuer)
	if err != nil {
		w.err = fmt.Errorf("building the OCSP request: %w", err)
		return
	}
	r.logf("debug", "%s: status of certid %s, contacting %s", w.set.Group, t.ID, t.ocspURL)
	body, err := postOCSP(ctx, client, t.ocspURL, req)
	if err != nil {
		w.err = err
		return
	}
	w.resp, w.err = Verify(body, t.leaf, t.issuer, r.now())
	if w.err == nil && w.stored != nil && w.resp.ThisUpdate.Truncate(time.Second).Before(w.stored.Valid.From.Time) {
		w.resp, w.err = nil, fmt.Errorf("response (thisUpdate %s) is older than the stored one (%s): a stale cache or a replay",
			w.resp.ThisUpdate.UTC().Format(time.RFC3339), w.stored.Valid.From.UTC().Format(time.RFC3339))
	}
}

func (r *Runner) client(proxy, proxyCA string) (*http.Client, error) {
	r.clientMu.Lock()
	defer r.clientMu.Unlock()
	key := proxy + "\x00" + proxyCA
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	c, err := NewHTTPClient(proxy, proxyCA, r.Timeout, r.now)
	if err != nil {
		return nil, err
	}
	if r.clients == nil {
		r.clients = map[string]*http.Client{}
	}
	r.clients[key] = c
	return c, nil
}

// crlFetch is one CRL download shared by every certificate of a run.
type crlFetch struct {
	once sync.Once
	crl  *x509.RevocationList
	err  error
}

// checkCRL finds t's status in its CRL: the copy cached in the store while
// it is outside its renew window, else a fresh download (verified, then
// cached).
func (r *Runner) checkCRL(ctx context.Context, c *http.Client, group string, t *Target) (*CRLStatus, error) {
	r.crlMu.Lock()
	if r.crls == nil {
		r.crls = map[string]*crlFetch{}
	}
	key := group + "\x00" + t.crlURL + "\x00" + string(t.issuer.Raw)
	f, ok := r.crls[key]
	if !ok {
		f = &crlFetch{}
		r.crls[key] = f
	}
	r.crlMu.Unlock()
	f.once.Do(func() { f.crl, f.err = r.loadCRL(ctx, c, group, t) })
	if f.err != nil {
		return nil, f.err
	}
	status, at := CheckCRL(f.crl, t.leaf)
	from, until := crlValid(f.crl)
	cs := &CRLStatus{Status: status, CRL: t.crlURL, Valid: md.Period{From: md.NewTime(from), Until: md.NewTime(until)}}
	if !at.IsZero() {
		cs.RevokedAt = md.NewTime(at)
	}
	return cs, nil
}

func (r *Runner) loadCRL(ctx context.Context, c *http.Client, group string, t *Target) (*x509.RevocationList, error) {
	now := r.now()
	file := CRLCacheFile(t.crlURL)
	if data, err := r.Store.Read(ctx, store.GroupOCSP, group, file); err == nil && !r.Force {
		if crl, err := ParseCRL(data, t.issuer, now); err == nil && checkScope(crl, t.crlURL) == nil {
			from, until := crlValid(crl)
			if win, err := md.ParseTimeslice(md.DefaultStaplingRenewWindow, md.Day); err == nil && now.Before(renew.OCSPRenewAt(from, until, win)) {
				r.logf("debug", "%s: using the cached CRL %s", group, t.crlURL)
				return crl, nil
			}
		}
	}
	r.logf("debug", "%s: downloading CRL %s", group, t.crlURL)
	data, err := getCRL(ctx, c, t.crlURL)
	if err != nil {
		return nil, err
	}
	crl, err := ParseCRL(data, t.issuer, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.crlURL, err)
	}
	if err := checkScope(crl, t.crlURL); err != nil {
		return nil, err
	}
	if err := r.Store.Write(ctx, store.GroupOCSP, group, file, crl.Raw); err != nil {
		return nil, err
	}
	return crl, nil
}
