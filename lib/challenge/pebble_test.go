package challenge

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"golang.org/x/crypto/acme"
)

// acmeEnv is a real Pebble CA and one registered account: the minimal
// ACME flow md-order runs, enough to prove the challenges really validate.
type acmeEnv struct {
	ca     *devca.CA
	client *acme.Client
}

func newACME(t *testing.T, opts devca.Options) *acmeEnv {
	t.Helper()
	ca := devca.StartT(t, opts)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &acme.Client{Key: key, DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient(), UserAgent: "mdtools-challenge-test"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Register(ctx, &acme.Account{Contact: []string{"mailto:test@example.org"}}, acme.AcceptTOS); err != nil {
		t.Fatalf("registering account: %v", err)
	}
	return &acmeEnv{ca: ca, client: c}
}

func (e *acmeEnv) httpAddr() string { return "127.0.0.1:" + strconv.Itoa(e.ca.HTTPPort) }
func (e *acmeEnv) tlsAddr() string  { return "127.0.0.1:" + strconv.Itoa(e.ca.TLSPort) }

// issue orders a certificate for rec's domains, answering every
// authorization through r with challenge.Respond, and returns the chain.
// check, if set, runs after each successful setup (data must be in place)
// and after each teardown.
func (e *acmeEnv) issue(t *testing.T, r Responder, rec *md.Record, check func(phase string, task Task)) ([]*x509.Certificate, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cands, err := Candidates(rec)
	if err != nil {
		return nil, err
	}
	names := md.MinimalDomains(rec.Domains)
	order, err := e.client.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		z, err := e.client.GetAuthorization(ctx, u)
		if err != nil {
			return nil, err
		}
		if z.Status == acme.StatusValid {
			continue
		}
		offers := make([]Offer, len(z.Challenges))
		for i, c := range z.Challenges {
			offers[i] = Offer{Type: c.Type, Token: c.Token}
		}
		task, i, err := Respond(ctx, r, rec, z.Identifier.Value, cands, offers, e.client.HTTP01ChallengeResponse)
		if err != nil {
			return nil, err
		}
		if check != nil {
			check("setup", task)
		}
		if _, err := e.client.Accept(ctx, z.Challenges[i]); err != nil {
			return nil, fmt.Errorf("accepting %s: %w", task, err)
		}
		_, werr := e.client.WaitAuthorization(ctx, u)
		if err := r.Teardown(ctx, rec, task); err != nil {
			return nil, err
		}
		if check != nil {
			check("teardown", task)
		}
		if werr != nil {
			return nil, fmt.Errorf("authorizing %s: %w", task, werr)
		}
	}
	if order, err = e.client.WaitOrder(ctx, order.URI); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, crypto.Signer(key))
	if err != nil {
		return nil, err
	}
	ders, _, err := e.client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// requireCovers fails unless the leaf names exactly the wanted domains.
func requireCovers(t *testing.T, chain []*x509.Certificate, names ...string) {
	t.Helper()
	if len(chain) == 0 {
		t.Fatal("empty chain")
	}
	got := map[string]bool{}
	for _, n := range chain[0].DNSNames {
		got[n] = true
	}
	for _, n := range names {
		if !got[n] {
			t.Errorf("certificate SANs %v lack %s", chain[0].DNSNames, n)
		}
	}
}
