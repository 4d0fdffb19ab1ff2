// Package ocsptest is a real OCSP responder for tests and benchmarks: it
// answers RFC 6960 POST requests on 127.0.0.1 with responses signed by
// ocsp.CreateResponse with the issuing CA's key (or a delegated responder
// certificate), "good" for every serial unless marked revoked or unknown.
package ocsptest

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Responder is a running OCSP responder.
type Responder struct {
	URL      string
	Validity time.Duration // nextUpdate - thisUpdate, default 24h
	Requests atomic.Int64  // requests answered so far

	mu      sync.Mutex
	issuer  *x509.Certificate
	key     crypto.Signer
	signer  *x509.Certificate // delegated responder cert, nil: issuer signs
	revoked map[string]time.Time
	unknown map[string]bool
	down    bool
	srv     *http.Server
	served  chan struct{} // closed when Serve has returned
	keyHash []byte
}

// Listen starts a responder on a free 127.0.0.1 port. It answers
// "tryLater" until SetIssuer is called, so that its URL can be given to a
// CA before the CA's key is known.
func Listen() (*Responder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Responder{URL: "http://" + ln.Addr().String() + "/", Validity: 24 * time.Hour,
		revoked: map[string]time.Time{}, unknown: map[string]bool{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.served = make(chan struct{})
	go func() { _ = r.srv.Serve(ln); close(r.served) }()
	return r, nil
}

// Close stops the responder and returns when it no longer listens and its
// connections are closed.
func (r *Responder) Close() {
	_ = r.srv.Close()
	<-r.served
}

// SetIssuer sets the CA the responder answers for and the key it signs
// with (the CA's own key, or a delegate's with SetDelegate).
func (r *Responder) SetIssuer(issuer *x509.Certificate, key crypto.Signer) error {
	var pub struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &pub); err != nil {
		return err
	}
	h := sha1.Sum(pub.PublicKey.RightAlign())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.issuer, r.key, r.keyHash = issuer, key, h[:]
	return nil
}

// SetDelegate makes a delegated responder certificate sign the responses.
func (r *Responder) SetDelegate(cert *x509.Certificate, key crypto.Signer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signer, r.key = cert, key
}

// Revoke marks a serial revoked from at on.
func (r *Responder) Revoke(serial *big.Int, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[serial.String()] = at
}

// MarkUnknown makes the responder answer "unknown" for a serial.
func (r *Responder) MarkUnknown(serial *big.Int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unknown[serial.String()] = true
}

// SetDown makes the responder answer HTTP 503 (true) or work again.
func (r *Responder) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// ServeHTTP answers one OCSP request.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	issuer, down := r.issuer, r.down
	r.mu.Unlock()
	if down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err != nil {
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	if issuer == nil {
		_, _ = w.Write(ocsp.TryLaterErrorResponse)
		return
	}
	oreq, err := ocsp.ParseRequest(body)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	if !bytes.Equal(oreq.IssuerKeyHash, r.keyHash) {
		_, _ = w.Write(ocsp.UnauthorizedErrorResponse)
		return
	}
	der, err := r.Respond(oreq.SerialNumber, time.Now())
	if err != nil {
		_, _ = w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	r.Requests.Add(1)
	_, _ = w.Write(der)
}

// Respond builds the signed response for serial at now.
func (r *Responder) Respond(serial *big.Int, now time.Time) ([]byte, error) {
	r.mu.Lock()
	issuer, key, signer := r.issuer, r.key, r.signer
	revokedAt, isRevoked := r.revoked[serial.String()]
	unknown := r.unknown[serial.String()]
	validity := r.Validity
	r.mu.Unlock()
	if issuer == nil {
		return nil, errors.New("ocsptest: no issuer set")
	}
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: serial,
		ThisUpdate: now.Add(-time.Minute).UTC().Truncate(time.Second), NextUpdate: now.Add(validity).UTC().Truncate(time.Second)}
	switch {
	case unknown:
		tmpl.Status = ocsp.Unknown
	case isRevoked:
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, revokedAt.UTC().Truncate(time.Second), ocsp.KeyCompromise
	}
	responder := issuer
	if signer != nil {
		responder = signer
		tmpl.Certificate = signer
	}
	return ocsp.CreateResponse(issuer, responder, tmpl, key)
}
