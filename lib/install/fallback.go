package install

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Fallback certificates, as mod_md makes them for an MD without a usable
// certificate (spec §0): self-signed, CN "Apache Managed Domain Fallback",
// the MD's domains as SANs, valid 14 days, in domains/<md>/
// fallback-privkey[.<spec>].pem and fallback-pubcert[.<spec>].pem. The
// Apache snippet points an SSL vhost at them (so that Apache starts before
// the first certificate is issued) and answers 503 on HTTPS, as mod_ssl
// does with mod_md's fallback.
const (
	fallbackCN       = "Apache Managed Domain Fallback"
	fallbackValidity = 14 * 24 * time.Hour
	fallbackPrefix   = "fallback-"
)

// ensureFallback makes sure domains/<md>/ has a fallback certificate per key
// spec that covers the MD's domains and is valid for at least another day.
// It reports whether it wrote anything.
func ensureFallback(ctx context.Context, st *store.Store, m *md.MD, now time.Time) (bool, error) {
	wrote := false
	for _, spec := range m.PrivKey.Effective() {
		kf, cf := spec.FileName(fallbackPrefix+"privkey"), spec.FileName(fallbackPrefix+"pubcert")
		if chain, err := st.LoadChain(ctx, store.GroupDomains, m.Name, cf); err == nil && st.Exists(ctx, store.GroupDomains, m.Name, kf) {
			ok := now.Add(24 * time.Hour).Before(chain[0].NotAfter)
			ok = ok && renew.Covers(chain[0], m.Domains)
			if ok {
				continue
			}
		}
		key, err := fallbackKey(spec)
		if err != nil {
			return wrote, err
		}
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: fallbackCN}, DNSNames: m.Domains,
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(fallbackValidity),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			return wrote, fmt.Errorf("making fallback certificate: %w", err)
		}
		cert, _ := x509.ParseCertificate(der)
		// key first: a cert without its key is redone on the next run
		if err := st.SaveKey(ctx, store.GroupDomains, m.Name, kf, key); err != nil {
			return wrote, err
		}
		if err := st.SaveChain(ctx, store.GroupDomains, m.Name, cf, []*x509.Certificate{cert}); err != nil {
			return wrote, err
		}
		wrote = true
	}
	return wrote, nil
}

func fallbackKey(spec md.KeySpec) (crypto.Signer, error) {
	if spec.Type == md.KeyEC {
		switch c, _ := md.CurveName(spec.Curve); c {
		case "P-384":
			return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		case "P-521":
			return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		default:
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
	}
	bits := spec.Bits
	if bits < 2048 {
		bits = 2048
	}
	return rsa.GenerateKey(rand.Reader, bits)
}
