package devca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// TestPebbleIssuesCertificate is the smoke test of the test environment: a
// real ACME account registration and a real http-01 issuance on loopback.
func TestPebbleIssuesCertificate(t *testing.T) {
	ca := StartT(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	answers := map[string]string{}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(ca.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		token := strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		if a, ok := answers[token]; ok {
			w.Write([]byte(a))
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(l)
	defer srv.Close()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client := &acme.Client{Key: key, DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient(), UserAgent: "mdtools-test"}
	acct, err := client.Register(ctx, &acme.Account{Contact: []string{"mailto:admin@example.org"}}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("registering account: %v", err)
	}
	if acct.Status != acme.StatusValid || acct.URI == "" {
		t.Fatalf("account = %+v", acct)
	}

	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs("smoke.test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range z.Challenges {
			if ch.Type != "http-01" {
				continue
			}
			ka, _ := client.HTTP01ChallengeResponse(ch.Token)
			mu.Lock()
			answers[ch.Token] = ka
			mu.Unlock()
			if _, err := client.Accept(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("authorization: %v", err)
		}
	}
	order, err = client.WaitOrder(ctx, order.URI)
	if err != nil {
		t.Fatal(err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"smoke.test"}}, certKey)
	ders, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, d := range ders[1:] {
		c, _ := x509.ParseCertificate(d)
		inter.AddCert(c)
	}
	roots, err := ca.IssuerRoots()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "smoke.test", Roots: roots, Intermediates: inter}); err != nil {
		t.Errorf("issued certificate does not verify against Pebble's root: %v", err)
	}
}

// TestRoots: Roots lists Pebble's issuing roots, one without
// AlternateRoots, 1+N with, each a distinct self-signed CA; the first is
// IssuerRoots' root.
func TestRoots(t *testing.T) {
	for _, alt := range []int{0, 2} {
		ca := StartT(t, Options{AlternateRoots: alt})
		roots, err := ca.Roots()
		if err != nil {
			t.Fatal(err)
		}
		if len(roots) != 1+alt || ca.NumRoots != 1+alt {
			t.Fatalf("AlternateRoots %d: %d roots, NumRoots %d; want %d", alt, len(roots), ca.NumRoots, 1+alt)
		}
		names := map[string]bool{}
		for _, r := range roots {
			if !r.IsCA || r.CheckSignatureFrom(r) != nil || !strings.HasPrefix(r.Subject.CommonName, "Pebble Root CA ") {
				t.Errorf("AlternateRoots %d: root %q is not a self-signed Pebble root", alt, r.Subject.CommonName)
			}
			names[r.Subject.CommonName] = true
		}
		if len(names) != len(roots) {
			t.Errorf("AlternateRoots %d: root names not distinct: %v", alt, names)
		}
		pool, err := ca.IssuerRoots()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := roots[0].Verify(x509.VerifyOptions{Roots: pool}); err != nil {
			t.Errorf("AlternateRoots %d: Roots()[0] is not IssuerRoots' root: %v", alt, err)
		}
	}
}

func TestIssueHelperConcurrent(t *testing.T) {
	ca := StartT(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	roots, err := ca.IssuerRoots()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, name := range []string{"one.test", "two.test", "three.test"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			chain, err := ca.Issue(ctx, []string{name, "www." + name}, key)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			inter := x509.NewCertPool()
			for _, c := range chain[1:] {
				inter.AddCert(c)
			}
			if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: "www." + name, Roots: roots, Intermediates: inter}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	wg.Wait()
}

// TestStartRetriesTakenPort: a port taken between choosing and binding
// makes Pebble exit at once; Start notices and retries with fresh ports
// instead of waiting a minute and failing.
func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := FreePorts(n)
		if calls == 1 && err == nil {
			ports[1] = taken.Addr().(*net.TCPAddr).Port // Pebble's management port
		}
		return ports, err
	}
	defer func() { pickPorts = FreePorts }()
	ca := StartT(t, Options{})
	if calls < 2 {
		t.Fatalf("ports picked %d times; want a retry", calls)
	}
	if _, err := ca.IssuerRoots(); err != nil {
		t.Errorf("CA not usable after the retry: %v", err)
	}
}
