package devca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"
)

// Issue obtains a real certificate for names from this CA, answering
// http-01 on the CA's HTTPPort with a small built-in responder. It is for
// tests of stages after md-order (install, staple, status) that need real
// CA-issued certificates; md-order has its own, full ACME flow. The chain
// is leaf first. Safe for concurrent use.
func (ca *CA) Issue(ctx context.Context, names []string, key crypto.Signer) ([]*x509.Certificate, error) {
	if len(names) == 0 {
		return nil, errors.New("devca: no names")
	}
	client, err := ca.issuingClient(ctx)
	if err != nil {
		return nil, err
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, err
	}
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			return nil, err
		}
		if z.Status == acme.StatusValid {
			continue
		}
		var chal *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "http-01" {
				chal = c
			}
		}
		if chal == nil {
			return nil, fmt.Errorf("devca: no http-01 challenge for %s", z.Identifier.Value)
		}
		ka, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return nil, err
		}
		ca.responder.set(chal.Token, ka)
		if _, err := client.Accept(ctx, chal); err != nil {
			return nil, err
		}
		if _, err := client.WaitAuthorization(ctx, u); err != nil {
			return nil, fmt.Errorf("devca: authorizing %s: %w", z.Identifier.Value, err)
		}
		ca.responder.remove(chal.Token)
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{DNSNames: names}
	if len(names[0]) < 64 {
		tmpl.Subject = pkix.Name{CommonName: names[0]}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, err
	}
	ders, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, err
	}
	chain := make([]*x509.Certificate, 0, len(ders))
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// issuingClient registers one account per CA, and starts the responder.
func (ca *CA) issuingClient(ctx context.Context) (*acme.Client, error) {
	ca.issueMu.Lock()
	defer ca.issueMu.Unlock()
	if ca.issuer != nil {
		return ca.issuer, nil
	}
	if err := ca.responder.start(ca.HTTPPort); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &acme.Client{Key: key, DirectoryURL: ca.DirectoryURL, HTTPClient: ca.client, UserAgent: "mdtools-devca"}
	if _, err := c.Register(ctx, &acme.Account{Contact: []string{"mailto:devca@example.org"}}, acme.AcceptTOS); err != nil {
		return nil, fmt.Errorf("devca: registering account: %w", err)
	}
	ca.issuer = c
	return c, nil
}

// http01Responder answers http-01 for Issue on the CA's HTTPPort.
type http01Responder struct {
	mu      sync.Mutex
	answers map[string]string
	srv     *http.Server
}

func (r *http01Responder) start(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("devca: http-01 responder on port %d: %w", port, err)
	}
	r.answers = map[string]string{}
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(l)
	return nil
}

func (r *http01Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token := strings.TrimPrefix(req.URL.Path, "/.well-known/acme-challenge/")
	r.mu.Lock()
	a, ok := r.answers[token]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write([]byte(a))
}

func (r *http01Responder) set(token, answer string) {
	r.mu.Lock()
	r.answers[token] = answer
	r.mu.Unlock()
}

func (r *http01Responder) remove(token string) {
	r.mu.Lock()
	delete(r.answers, token)
	r.mu.Unlock()
}

func (r *http01Responder) stop() {
	if r.srv != nil {
		r.srv.Close()
	}
}
