package acmeflow

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// Directory is what md-order reads from an ACME directory (RFC 8555 §7.1.1,
// RFC 9773 renewalInfo, profiles).
type Directory struct {
	URL         string
	NewNonce    string
	NewAccount  string
	NewOrder    string
	RenewalInfo string
	Terms       string
	EABRequired bool
	Profiles    map[string]string
	// CAAIdentities are the CA's issuer domain names (meta.caaIdentities),
	// the first of which a dns-persist-01 record names.
	CAAIdentities []string
}

// Discover fetches and checks a directory.
func Discover(ctx context.Context, hc *http.Client, url, ua string) (*Directory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("CA URL %q: %w", url, err)
	}
	req.Header.Set("User-Agent", ua)
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("contacting ACME server at %s: %w", url, err)
	}
	data, err := readLimited(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading ACME directory %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, problemFromResponse(res, data)
	}
	var v struct {
		NewNonce    string `json:"newNonce"`
		NewAccount  string `json:"newAccount"`
		NewOrder    string `json:"newOrder"`
		RenewalInfo string `json:"renewalInfo"`
		Meta        struct {
			Terms        string            `json:"termsOfService"`
			ExternalAcct bool              `json:"externalAccountRequired"`
			Profiles     map[string]string `json:"profiles"`
			CAA          []string          `json:"caaIdentities"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("ACME directory %s is not valid JSON: %w", url, err)
	}
	if v.NewNonce == "" || v.NewAccount == "" || v.NewOrder == "" {
		return nil, fmt.Errorf("ACME directory %s lacks newNonce, newAccount or newOrder (not an RFC 8555 CA?)", url)
	}
	return &Directory{URL: url, NewNonce: v.NewNonce, NewAccount: v.NewAccount, NewOrder: v.NewOrder,
		RenewalInfo: v.RenewalInfo, Terms: v.Meta.Terms, EABRequired: v.Meta.ExternalAcct, Profiles: v.Meta.Profiles,
		CAAIdentities: v.Meta.CAA}, nil
}

// authz is an RFC 8555 §7.1.4 authorization.
type authz struct {
	URL        string
	Status     string       `json:"status"`
	Identifier acme.AuthzID `json:"identifier"`
	Wildcard   bool         `json:"wildcard"`
	Challenges []struct {
		Type   string          `json:"type"`
		URL    string          `json:"url"`
		Token  string          `json:"token"`
		Status string          `json:"status"`
		Error  json.RawMessage `json:"error"`
		// dns-persist-01 (draft-ietf-acme-dns-persist): what the
		// record must name
		AccountURI        string   `json:"accounturi"`
		IssuerDomainNames []string `json:"issuer-domain-names"`
	} `json:"challenges"`
}

func (s *signer) getAuthz(ctx context.Context, url string) (*authz, time.Duration, error) {
	res, data, err := s.post(ctx, url, nil)
	if err != nil {
		return nil, 0, err
	}
	var z authz
	if err := json.Unmarshal(data, &z); err != nil {
		return nil, 0, fmt.Errorf("decoding authorization %s: %w", url, err)
	}
	z.URL = url
	return &z, parseRetryAfter(res.Header.Get("Retry-After"), s.now()), nil
}

func (s *signer) accept(ctx context.Context, chalURL string) error {
	_, _, err := s.post(ctx, chalURL, []byte("{}"))
	return err
}

func (s *signer) getOrder(ctx context.Context, url string) (*acme.Order, time.Duration, error) {
	res, data, err := s.post(ctx, url, nil)
	if err != nil {
		return nil, 0, err
	}
	o, err := parseOrder(data)
	if err != nil {
		return nil, 0, err
	}
	o.URI = url
	return o, parseRetryAfter(res.Header.Get("Retry-After"), s.now()), nil
}

// nap is the polling schedule: 50 ms doubling to 5 s, or the CA's
// Retry-After when it gives one.
func nap(ctx context.Context, i int, retryAfter time.Duration) error {
	d := 50 * time.Millisecond << min(i, 7)
	if d > 5*time.Second {
		d = 5 * time.Second
	}
	if retryAfter > 0 {
		d = min(retryAfter, time.Minute)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// authzError is the problem of a failed authorization: the failed
// challenge's error, as mod_md reports it.
func authzError(z *authz) error {
	for _, c := range z.Challenges {
		if len(c.Error) > 0 && string(c.Error) != "null" {
			var p struct {
				Type   string `json:"type"`
				Detail string `json:"detail"`
			}
			if json.Unmarshal(c.Error, &p) == nil && p.Type != "" {
				detail := fmt.Sprintf("domain authorization for %s failed (%s): %s", z.Identifier.Value, c.Type, p.Detail)
				if c.Type == challenge.DNSPersist01 && len(c.IssuerDomainNames) > 0 && c.AccountURI != "" {
					d := z.Identifier.Value
					if z.Wildcard {
						d = "*." + d
					}
					detail += ". Publish this record (md-challenge persist-record prints it): " +
						challenge.NewPersistRecord(d, c.IssuerDomainNames[0], c.AccountURI, time.Time{}).ZoneLine(challenge.PersistTTL)
				}
				return &acme.Error{ProblemType: p.Type, Detail: detail}
			}
		}
	}
	return &acme.Error{ProblemType: "urn:ietf:params:acme:error:unauthorized",
		Detail: fmt.Sprintf("domain authorization for %s is %s", z.Identifier.Value, z.Status)}
}

// waitOrder polls an order until its status is one of want or invalid,
// after a first nap of first (each poll is a signed request; waiting a
// little for a CA that just got work saves some).
func (s *signer) waitOrder(ctx context.Context, url string, first time.Duration, want ...string) (*acme.Order, error) {
	if first > 0 {
		t := time.NewTimer(first)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	for i := 0; ; i++ {
		o, ra, err := s.getOrder(ctx, url)
		if err != nil {
			return nil, err
		}
		if o.Status == acme.StatusInvalid {
			return nil, orderError(o)
		}
		for _, w := range want {
			if o.Status == w {
				return o, nil
			}
		}
		if err := nap(ctx, i, ra); err != nil {
			return nil, fmt.Errorf("waiting for order to become %s (is %s): %w", strings.Join(want, " or "), o.Status, err)
		}
	}
}

func orderError(o *acme.Order) error {
	if o.Error != nil {
		return o.Error
	}
	return &acme.Error{ProblemType: "urn:ietf:params:acme:error:orderNotReady", Detail: "the order became invalid"}
}

// finalize submits the CSR and waits for the order to be valid.
func (s *signer) finalize(ctx context.Context, o *acme.Order, csr []byte) (*acme.Order, error) {
	payload, _ := json.Marshal(struct {
		CSR string `json:"csr"`
	}{base64.RawURLEncoding.EncodeToString(csr)})
	_, data, err := s.post(ctx, o.FinalizeURL, payload)
	if err != nil {
		return nil, err
	}
	fo, err := parseOrder(data)
	if err != nil {
		return nil, err
	}
	if fo.Status == acme.StatusValid && fo.CertURL != "" {
		fo.URI = o.URI
		return fo, nil
	}
	return s.waitOrder(ctx, o.URI, 20*time.Millisecond, acme.StatusValid)
}

// maxChain bounds the certificates followed through rel="up" (mod_md: 10).
const maxChain = 10

// fetchChainLinks downloads the certificate (RFC 8555 §7.4.2): a PEM
// chain, following Link rel="up" when the CA sends only the leaf. It also
// returns the alternate chains the CA links from the certificate's URL
// (Link rel="alternate"; retrieveChain chooses among them).
func (s *signer) fetchChainLinks(ctx context.Context, url string) ([]*x509.Certificate, []string, error) {
	var chain []*x509.Certificate
	var alternates []string
	for len(chain) < maxChain && url != "" {
		res, data, err := s.post(ctx, url, nil)
		if err != nil {
			return nil, nil, err
		}
		if chain == nil {
			alternates = linkRels(res.Header, "alternate")
		}
		ct := res.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "application/x-pkcs7-mime") {
			break
		}
		certs, err := parsePEMOrDER(data, ct)
		if err != nil {
			return nil, nil, &Problem{Type: ProblemCertInvalid, Detail: fmt.Sprintf("the CA's answer at %s is not a certificate chain: %v", url, err)}
		}
		chain = append(chain, certs...)
		if len(certs) > 1 {
			break
		}
		url = linkUp(res.Header)
	}
	if len(chain) == 0 {
		return nil, nil, &Problem{Type: ProblemCertInvalid, Detail: "the CA returned no certificate"}
	}
	if len(chain) > maxChain {
		chain = chain[:maxChain]
	}
	return chain, alternates, nil
}

// parsePEMOrDER reads a certificate response: one DER certificate for
// application/pkix-cert, else a PEM chain (store.ParseChainPEM's rules:
// certificates only, nothing after the last one).
func parsePEMOrDER(data []byte, ct string) ([]*x509.Certificate, error) {
	if strings.HasPrefix(ct, "application/pkix-cert") {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	return store.ParseChainPEM(data)
}

// linkUp returns the target of a Link header with rel="up".
func linkUp(h http.Header) string { return linkRel(h, "up") }

// linkRel returns the target of a Link header with relation rel.
func linkRel(h http.Header, rel string) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if !strings.HasPrefix(part, "<") {
				continue
			}
			end := strings.Index(part, ">")
			if end < 0 {
				continue
			}
			params := strings.ToLower(part[end+1:])
			if strings.Contains(params, `rel="`+rel+`"`) || strings.Contains(params, "rel="+rel) {
				return part[1:end]
			}
		}
	}
	return ""
}
