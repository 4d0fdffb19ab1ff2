package acmeflow

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"golang.org/x/crypto/acme"
)

// signer makes the few signed requests x/crypto/acme has no method for
// (newOrder with "replaces", POST-as-GET that returns Link headers): an
// RFC 8555 §6.2 JWS in "kid" form with the account key, RS256 or
// ES256/384/512, with a fresh nonce and a retry on badNonce.
type signer struct {
	hc       *http.Client
	key      crypto.Signer
	kid      string
	nonceURL string
	ua       string
	now      func() time.Time // the runner's clock

	mu     sync.Mutex
	nonces []string
}

// jwsAlg names the JWS algorithm and hash for a key.
func jwsAlg(pub crypto.PublicKey) (string, crypto.Hash, int, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", crypto.SHA256, 0, nil
	case *ecdsa.PublicKey:
		switch p.Curve.Params().BitSize {
		case 256:
			return "ES256", crypto.SHA256, 32, nil
		case 384:
			return "ES384", crypto.SHA384, 48, nil
		case 521:
			return "ES512", crypto.SHA512, 66, nil
		}
	}
	return "", 0, 0, fmt.Errorf("unsupported account key type %T", pub)
}

// signJWS returns the flattened JSON serialisation of a JWS over payload
// (nil payload: POST-as-GET, an empty payload string).
func signJWS(key crypto.Signer, kid, nonce, url string, payload []byte) ([]byte, error) {
	alg, hash, size, err := jwsAlg(key.Public())
	if err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(struct {
		Alg   string `json:"alg"`
		KID   string `json:"kid"`
		Nonce string `json:"nonce"`
		URL   string `json:"url"`
	}{alg, kid, nonce, url})
	if err != nil {
		return nil, err
	}
	prot := base64.RawURLEncoding.EncodeToString(hdr)
	pl := ""
	if payload != nil {
		pl = base64.RawURLEncoding.EncodeToString(payload)
	}
	h := hash.New()
	h.Write([]byte(prot + "." + pl))
	sig, err := key.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, err
	}
	if size > 0 { // ECDSA: ASN.1 -> fixed-size r||s (RFC 7518 §3.4)
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(sig, &rs); err != nil {
			return nil, err
		}
		out := make([]byte, 2*size)
		rs.R.FillBytes(out[:size])
		rs.S.FillBytes(out[size:])
		sig = out
	}
	return json.Marshal(struct {
		Protected string `json:"protected"`
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	}{prot, pl, base64.RawURLEncoding.EncodeToString(sig)})
}

func (s *signer) nonce(ctx context.Context) (string, error) {
	s.mu.Lock()
	if n := len(s.nonces); n > 0 {
		v := s.nonces[n-1]
		s.nonces = s.nonces[:n-1]
		s.mu.Unlock()
		return v, nil
	}
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.nonceURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", s.ua)
	res, err := s.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("getting a nonce: %w", err)
	}
	res.Body.Close()
	v := res.Header.Get("Replay-Nonce")
	if v == "" {
		return "", fmt.Errorf("getting a nonce: %s sent no Replay-Nonce (HTTP %d)", s.nonceURL, res.StatusCode)
	}
	return v, nil
}

func (s *signer) keepNonce(h http.Header) {
	if v := h.Get("Replay-Nonce"); v != "" {
		s.mu.Lock()
		if len(s.nonces) < 32 {
			s.nonces = append(s.nonces, v)
		}
		s.mu.Unlock()
	}
}

// post sends a signed request (payload nil: POST-as-GET) and returns the
// response with its body read (at most 1 MiB). A non-2xx answer is
// returned as *acme.Error.
func (s *signer) post(ctx context.Context, url string, payload []byte) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		nonce, err := s.nonce(ctx)
		if err != nil {
			return nil, nil, err
		}
		body, err := signJWS(s.key, s.kid, nonce, url, payload)
		if err != nil {
			return nil, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", "application/jose+json")
		req.Header.Set("User-Agent", s.ua)
		res, err := s.hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		data, err := readLimited(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", url, err)
		}
		s.keepNonce(res.Header)
		if res.StatusCode >= 200 && res.StatusCode < 300 {
			return res, data, nil
		}
		aerr := problemFromResponse(res, data)
		if strings.HasSuffix(aerr.ProblemType, ":badNonce") && attempt < 8 {
			continue
		}
		return nil, nil, aerr
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResponse {
		return nil, errTooLarge
	}
	return data, nil
}

// problemFromResponse turns an error response into *acme.Error, keeping
// type, detail and subproblems (RFC 7807 / RFC 8555 §6.7).
func problemFromResponse(res *http.Response, data []byte) *acme.Error {
	var p struct {
		Type        string `json:"type"`
		Detail      string `json:"detail"`
		Instance    string `json:"instance"`
		Subproblems []struct {
			Type       string        `json:"type"`
			Detail     string        `json:"detail"`
			Identifier *acme.AuthzID `json:"identifier"`
		} `json:"subproblems"`
	}
	e := &acme.Error{StatusCode: res.StatusCode, Header: res.Header}
	if err := json.Unmarshal(data, &p); err != nil || p.Type == "" {
		e.Detail = fmt.Sprintf("HTTP %s from %s", res.Status, res.Request.URL)
		if len(data) > 0 && len(data) < 200 && !bytes.ContainsAny(data, "\x00") {
			e.Detail += ": " + strings.TrimSpace(string(data))
		}
		return e
	}
	e.ProblemType, e.Detail, e.Instance = p.Type, p.Detail, p.Instance
	for _, sp := range p.Subproblems {
		s := acme.Subproblem{Type: sp.Type, Detail: sp.Detail}
		if sp.Identifier != nil {
			id := *sp.Identifier
			s.Identifier = &id
		}
		e.Subproblems = append(e.Subproblems, s)
	}
	return e
}

var errNoLocation = errors.New("new order response has no Location header")

// newOrder posts a newOrder request with the fields x/crypto/acme cannot
// send ("replaces", RFC 9773 §5) and returns the order.
func (s *signer) newOrder(ctx context.Context, orderURL string, ids []string, profile, replaces string) (*acme.Order, error) {
	type ident struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	req := struct {
		Identifiers []ident `json:"identifiers"`
		Profile     string  `json:"profile,omitempty"`
		Replaces    string  `json:"replaces,omitempty"`
	}{Profile: profile, Replaces: replaces}
	for _, id := range ids {
		req.Identifiers = append(req.Identifiers, ident{md.IdentifierType(id), id})
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	res, data, err := s.post(ctx, orderURL, payload)
	if err != nil {
		return nil, err
	}
	o, err := parseOrder(data)
	if err != nil {
		return nil, err
	}
	o.URI = res.Header.Get("Location")
	if o.URI == "" {
		return nil, errNoLocation
	}
	return o, nil
}

// parseOrder decodes an RFC 8555 §7.1.3 order object.
func parseOrder(data []byte) (*acme.Order, error) {
	var v struct {
		Status         string
		Identifiers    []acme.AuthzID
		Authorizations []string
		Finalize       string
		Certificate    string
		Error          *struct {
			Type   string
			Detail string
		}
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decoding order: %w", err)
	}
	if v.Status == "" || v.Finalize == "" {
		return nil, &Problem{Type: ProblemCAResponseInvalid, Detail: "decoding order: no status or finalize URL"}
	}
	o := &acme.Order{Status: v.Status, Identifiers: v.Identifiers, AuthzURLs: v.Authorizations,
		FinalizeURL: v.Finalize, CertURL: v.Certificate}
	if v.Error != nil {
		o.Error = &acme.Error{ProblemType: v.Error.Type, Detail: v.Error.Detail}
	}
	return o, nil
}
