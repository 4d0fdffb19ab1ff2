package challenge

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

func TestTLSALPNCertificate(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte(testKeyAuth))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	der, err := TLSALPNCertificate(key, "a.test", digest[:], now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "tls-alpn-01-challenge" || len(c.DNSNames) != 1 || c.DNSNames[0] != "a.test" {
		t.Errorf("subject %v, SANs %v", c.Subject, c.DNSNames)
	}
	if !c.BasicConstraintsValid || c.IsCA {
		t.Error("want basicConstraints CA:FALSE")
	}
	if got := c.NotAfter.Sub(now); got != 7*24*time.Hour {
		t.Errorf("valid for %v after now; want 7 days", got)
	}
	if n := len(c.SerialNumber.Bytes()); n != 20 {
		t.Errorf("serial has %d bytes; want 20", n)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	var found bool
	for _, e := range c.Extensions {
		switch {
		case e.Id.Equal(OIDACMEIdentifier):
			found = true
			var got []byte
			if rest, err := asn1.Unmarshal(e.Value, &got); err != nil || len(rest) != 0 || !bytes.Equal(got, digest[:]) || !e.Critical {
				t.Errorf("acmeIdentifier critical=%v value %x; want critical OCTET STRING %x", e.Critical, e.Value, digest)
			}
			if !bytes.Equal(e.Value[:2], []byte{0x04, 0x20}) {
				t.Errorf("acmeIdentifier DER starts %x; want 04 20", e.Value[:2])
			}
		case e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 19}):
			if !e.Critical {
				t.Error("basicConstraints not critical")
			}
		}
	}
	if !found {
		t.Fatal("no acmeIdentifier extension")
	}
	// OpenSSL reads it the same way.
	p := filepath.Join(t.TempDir(), "c.der")
	if err := os.WriteFile(p, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "x509", "-inform", "DER", "-in", p, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	for _, want := range []string{"tls-alpn-01-challenge", "DNS:a.test", "CA:FALSE", "critical"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(string(out), "1.3.6.1.5.5.7.1.31: critical") && !strings.Contains(string(out), "ACME Identifier: critical") {
		t.Errorf("openssl does not show a critical acmeIdentifier:\n%s", out)
	}
}

func tlsRecord(specs md.KeySpecs, domains ...string) *md.Record {
	rec := testRecord(domains...)
	rec.PrivKey = specs
	rec.Proto.ACMETLS1 = domains
	return rec
}

func TestTLSALPN01SetupFiles(t *testing.T) {
	st, dir := openStore(t)
	m := newManager(t, st, Options{})
	specs := md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}, {Type: md.KeyRSA, Bits: 2048}}
	rec := tlsRecord(specs, "a.test")
	ctx := context.Background()
	task := Task{Type: TLSALPN01, Domain: "a.test", Token: testToken, KeyAuth: testKeyAuth}
	if err := m.Setup(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	cdir := filepath.Join(dir, "challenges", "a.test")
	want := map[string]os.FileMode{
		"acme-tls-alpn-01-privkey.pem": 0o600, "acme-tls-alpn-01-pubcert.pem": 0o644,
		"acme-tls-alpn-01-privkey.p-256.pem": 0o600, "acme-tls-alpn-01-pubcert.p-256.pem": 0o644,
	}
	for f, mode := range want {
		fi, err := os.Stat(filepath.Join(cdir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v; want %v", f, fi.Mode().Perm(), mode)
		}
	}
	rsaChain, err := st.LoadChain(ctx, store.GroupChallenges, "a.test", "acme-tls-alpn-01-pubcert.pem")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rsaChain[0].PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("pubcert.pem holds a %T key; want RSA", rsaChain[0].PublicKey)
	}
	// Same key authorization again: nothing regenerated.
	before, _ := os.ReadFile(filepath.Join(cdir, "acme-tls-alpn-01-pubcert.p-256.pem"))
	if err := m.Setup(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(cdir, "acme-tls-alpn-01-pubcert.p-256.pem"))
	if !bytes.Equal(before, after) {
		t.Error("unchanged challenge regenerated its certificate")
	}
	// A new key authorization replaces it.
	tok2 := strings.Repeat("Z", 43)
	if err := m.Setup(ctx, rec, Task{Type: TLSALPN01, Domain: "a.test", Token: tok2, KeyAuth: tok2 + "." + testThumb}); err != nil {
		t.Fatal(err)
	}
	after2, _ := os.ReadFile(filepath.Join(cdir, "acme-tls-alpn-01-pubcert.p-256.pem"))
	if bytes.Equal(before, after2) {
		t.Error("new key authorization kept the old certificate")
	}
	if err := m.Teardown(ctx, rec, Task{Type: TLSALPN01, Domain: "a.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cdir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("challenge dir still there: %v", err)
	}
}

func TestTLSALPN01NotApplicable(t *testing.T) {
	st, _ := openStore(t)
	m := newManager(t, st, Options{})
	rec := testRecord("a.test") // no acme-tls/1 domain at all
	err := m.Setup(context.Background(), rec, Task{TLSALPN01, "a.test", testToken, testKeyAuth})
	if !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("got %v; want ErrNotApplicable", err)
	}
	// Another domain of the MD has acme-tls/1: tried anyway, as mod_md.
	rec.Domains = append(rec.Domains, "www.a.test")
	rec.Proto.ACMETLS1 = []string{"a.test"}
	if err := m.Setup(context.Background(), rec, Task{TLSALPN01, "www.a.test", testToken, testKeyAuth}); err != nil {
		t.Fatal(err)
	}
	if err := m.Setup(context.Background(), tlsRecord(md.KeySpecs{{Type: md.KeyEC, Curve: "X25519"}}, "b.test"),
		Task{TLSALPN01, "b.test", testToken, testKeyAuth}); err == nil || !strings.Contains(err.Error(), "X25519") {
		t.Errorf("unsupported curve: got %v", err)
	}
}

func TestTLSALPNResponder(t *testing.T) {
	st, _ := openStore(t)
	m := newManager(t, st, Options{TLSListen: "127.0.0.1:0"})
	rec := tlsRecord(md.KeySpecs{{Type: md.KeyRSA, Bits: 2048}, {Type: md.KeyEC, Curve: "secp384r1"}}, "a.test")
	if err := m.Setup(context.Background(), rec, Task{TLSALPN01, "a.test", testToken, testKeyAuth}); err != nil {
		t.Fatal(err)
	}
	_, addr := m.Listening()
	if addr == nil {
		t.Fatal("tls-alpn-01 listener not started")
	}
	dial := func(sni string, protos []string, sigs []tls.CurveID) (*x509.Certificate, error) {
		d := &tls.Dialer{Config: &tls.Config{ServerName: sni, NextProtos: protos, InsecureSkipVerify: true}}
		if sigs != nil {
			d.Config.MaxVersion = tls.VersionTLS12
			d.Config.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}
		c, err := d.DialContext(context.Background(), "tcp", addr.String())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		cs := c.(*tls.Conn).ConnectionState()
		if cs.NegotiatedProtocol != ACMETLS1 {
			t.Errorf("negotiated %q; want acme-tls/1", cs.NegotiatedProtocol)
		}
		return cs.PeerCertificates[0], nil
	}
	c, err := dial("a.test", []string{ACMETLS1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok || c.DNSNames[0] != "a.test" {
		t.Errorf("got %T cert for %v; want the RSA one first, as mod_md", c.PublicKey, c.DNSNames)
	}
	// A client that cannot use RSA gets the EC certificate.
	c, err = dial("a.test", []string{ACMETLS1}, []tls.CurveID{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("ECDSA-only client got %T", c.PublicKey)
	}
	if _, err := dial("a.test", []string{"h2", "http/1.1"}, nil); err == nil {
		t.Error("handshake without acme-tls/1 succeeded")
	}
	if _, err := dial("unknown.test", []string{ACMETLS1}, nil); err == nil {
		t.Error("handshake for an unknown name succeeded")
	}
	if _, err := dial("", []string{ACMETLS1}, nil); err == nil {
		t.Error("handshake without SNI succeeded")
	}
}

// TestTLSALPN01WithPebble obtains a real certificate through tls-alpn-01
// for an MD with two key specs.
func TestTLSALPN01WithPebble(t *testing.T) {
	env := newACME(t, devca.Options{})
	st, _ := openStore(t)
	m := newManager(t, st, Options{TLSListen: env.tlsAddr()})
	rec := tlsRecord(md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}, {Type: md.KeyRSA, Bits: 2048}}, "alpn.test", "www.alpn.test")
	rec.Settings = &md.Settings{Reachable: &md.Reachable{HTTP: false, HTTPS: true}}
	var types []string
	chain, err := env.issue(t, m, rec, func(phase string, task Task) {
		if phase == "setup" {
			types = append(types, task.Type)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	requireCovers(t, chain, "alpn.test", "www.alpn.test")
	if strings.Join(types, " ") != "tls-alpn-01 tls-alpn-01" {
		t.Errorf("challenge types used: %v", types)
	}
	if names, _ := st.List(t.Context(), store.GroupChallenges); len(names) != 0 {
		t.Errorf("challenge data left after teardown: %v", names)
	}
}

// TestTLSALPN01ExpiredCertRegenerated: a stored challenge certificate past
// its 7 days is replaced even for the same key authorization.
func TestTLSALPN01ExpiredCertRegenerated(t *testing.T) {
	st, dir := openStore(t)
	now := time.Now()
	m := newManager(t, st, Options{Now: func() time.Time { return now }})
	rec := tlsRecord(md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}, "a.test")
	task := Task{TLSALPN01, "a.test", testToken, testKeyAuth}
	if err := m.Setup(context.Background(), rec, task); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "challenges", "a.test", "acme-tls-alpn-01-pubcert.p-256.pem")
	before, _ := os.ReadFile(p)
	now = now.Add(8 * 24 * time.Hour)
	if err := m.Setup(context.Background(), rec, task); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(p); bytes.Equal(before, after) {
		t.Fatal("expired challenge certificate kept")
	}
}
