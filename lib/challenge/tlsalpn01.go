package challenge

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// ACMETLS1 is the ALPN protocol of tls-alpn-01 (RFC 8737).
const ACMETLS1 = "acme-tls/1"

// tls-alpn-01 certificate properties, as mod_md's md_cert_make_tls_alpn_01.
const (
	tlsALPNCommonName = "tls-alpn-01-challenge"
	tlsALPNValidity   = 7 * 24 * time.Hour
	tlsALPNFilePrefix = "acme-tls-alpn-01-"
)

// OIDACMEIdentifier is id-pe-acmeIdentifier (RFC 8737 §3).
var OIDACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// TLSALPNFileNames are the store files of a tls-alpn-01 challenge for one
// key spec: "acme-tls-alpn-01-privkey[.<spec>].pem" and "...-pubcert...".
func TLSALPNFileNames(spec md.KeySpec) (keyFile, certFile string) {
	return tlsALPNFilePrefix + spec.FileName("privkey"), tlsALPNFilePrefix + spec.FileName("pubcert")
}

// setupTLSALPN01 writes a challenge key and certificate per key spec. As
// mod_md, a domain not in proto.acme-tls/1 is tried anyway when other
// domains of the MD have acme-tls/1, and is not applicable otherwise.
func (m *Manager) setupTLSALPN01(ctx context.Context, rec *md.Record, t Task) error {
	if !slices.Contains(rec.Proto.ACMETLS1, t.Domain) {
		// our own listener (md-order --tls-listen) answers acme-tls/1 for
		// any name; a web server only where Protocols has acme-tls/1
		own := m.opts.TLSListen != "" && !m.opts.NoListen
		if len(rec.Proto.ACMETLS1) == 0 && !own {
			return fmt.Errorf("%w: protocol 'acme-tls/1' is not enabled for %s or any other domain of %s", ErrNotApplicable, t.Domain, rec.Name)
		}
		m.log.Infof("%s: protocol 'acme-tls/1' seems not enabled for this domain, but for others of %s; trying anyway", t.Domain, rec.Name)
	}
	digest := sha256.Sum256([]byte(t.KeyAuth))
	for _, spec := range rec.PrivKey.Effective() {
		keyFile, certFile := TLSALPNFileNames(spec)
		if m.tlsALPNCurrent(ctx, t.Domain, certFile, digest[:]) {
			continue
		}
		key, err := md.GenerateKey(spec)
		if err != nil {
			return err
		}
		der, err := TLSALPNCertificate(key, t.Domain, digest[:], m.opts.Now())
		if err != nil {
			return err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		if err := m.st.SaveKey(ctx, store.GroupChallenges, t.Domain, keyFile, key); err != nil {
			return err
		}
		if err := m.st.SaveChain(ctx, store.GroupChallenges, t.Domain, certFile, []*x509.Certificate{cert}); err != nil {
			return err
		}
	}
	return nil
}

// tlsALPNCurrent reports whether a stored challenge certificate already
// answers this key authorization (then it is kept, so a repeated Setup does
// not change what the responder serves).
func (m *Manager) tlsALPNCurrent(ctx context.Context, domain, certFile string, digest []byte) bool {
	chain, err := m.st.LoadChain(ctx, store.GroupChallenges, domain, certFile)
	if err != nil || len(chain) != 1 || chain[0].VerifyHostname(domain) != nil {
		return false
	}
	if m.opts.Now().After(chain[0].NotAfter) {
		return false
	}
	want, _ := asn1.Marshal(digest)
	for _, e := range chain[0].Extensions {
		if e.Id.Equal(OIDACMEIdentifier) {
			return e.Critical && bytes.Equal(e.Value, want)
		}
	}
	return false
}

// TLSALPNCertificate makes the self-signed tls-alpn-01 certificate of RFC
// 8737 as mod_md does: CN tls-alpn-01-challenge, SAN dns (an IP SAN for an
// IP address, RFC 8738 §6), basicConstraints
// critical CA:FALSE, the critical acmeIdentifier extension holding the
// SHA-256 digest of the key authorization, a random 20-byte serial, valid 7
// days from now. It returns the DER.
func TLSALPNCertificate(key crypto.Signer, dns string, digest []byte, now time.Time) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, errors.New("tls-alpn-01: digest is not SHA-256")
	}
	ext, err := asn1.Marshal(digest)
	if err != nil {
		return nil, err
	}
	serial := make([]byte, 20)
	if _, err := rand.Read(serial); err != nil {
		return nil, err
	}
	serial[0] &= 0x7f
	serial[0] |= 0x01 // positive, 20 bytes
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		Subject:               pkix.Name{CommonName: tlsALPNCommonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(tlsALPNValidity),
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ExtraExtensions:       []pkix.Extension{{Id: OIDACMEIdentifier, Critical: true, Value: ext}},
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if ip := net.ParseIP(dns); ip != nil {
		tmpl.IPAddresses = []net.IP{ip} // RFC 8738 §6: the address, not its reverse name
	} else {
		tmpl.DNSNames = []string{dns}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// TLSALPNConfig is a TLS server configuration that answers tls-alpn-01
// from the store: it speaks only ALPN "acme-tls/1" and returns the stored
// challenge certificate for the SNI name, RSA first, then the others (as
// mod_md's md_answer_challenge), the first one the client supports. log
// may be nil.
func TLSALPNConfig(st *store.Store, log logger.Logger) *tls.Config {
	return tlsALPNConfig(st, nil, log)
}

// tlsALPNConfig is TLSALPNConfig answering from c first, when it holds
// certificates for the name.
func tlsALPNConfig(st *store.Store, c *cache, log logger.Logger) *tls.Config {
	log = logger.Or(log)
	return &tls.Config{
		NextProtos: []string{ACMETLS1},
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if !slices.Contains(hello.SupportedProtos, ACMETLS1) {
				return nil, errors.New("tls-alpn-01: client did not offer acme-tls/1")
			}
			name := sniName(hello.ServerName)
			if ValidateChallengeDomain(name) != nil {
				return nil, fmt.Errorf("tls-alpn-01: bad or missing SNI %q", hello.ServerName)
			}
			certs, ok := c.tlsCerts(name)
			if !ok {
				var err error
				if certs, err = loadTLSALPN(hello.Context(), st, name); err != nil {
					log.Warnf("tls-alpn-01: %s: %v", name, err)
					return nil, err
				}
			}
			fit := hello
			if md.IsIP(name) {
				// the certificate names the address, not its reverse
				// name (RFC 8738 §6): judge it by key and version only
				h := *hello
				h.ServerName = ""
				fit = &h
			}
			for _, c := range certs {
				if fit.SupportsCertificate(c) == nil {
					log.Infof("tls-alpn-01: answered %s", name)
					return c, nil
				}
			}
			log.Infof("tls-alpn-01: unknown challenge host %s", name)
			return nil, fmt.Errorf("tls-alpn-01: no challenge certificate for %s", name)
		},
	}
}

// loadTLSALPN loads the challenge certificates of a DNS name, RSA first.
func loadTLSALPN(ctx context.Context, st *store.Store, dns string) ([]*tls.Certificate, error) {
	files, err := st.ListFiles(ctx, store.GroupChallenges, dns)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var certFiles []string
	for _, f := range files {
		if strings.HasPrefix(f, tlsALPNFilePrefix+"pubcert") && strings.HasSuffix(f, ".pem") {
			certFiles = append(certFiles, f)
		}
	}
	// "...-pubcert.pem" (RSA/Default) sorts before "...-pubcert.<curve>.pem".
	slices.Sort(certFiles)
	var out []*tls.Certificate
	for _, cf := range certFiles {
		kf := strings.Replace(cf, "pubcert", "privkey", 1)
		certPEM, err := st.Read(ctx, store.GroupChallenges, dns, cf)
		if err != nil {
			continue
		}
		keyPEM, err := st.Read(ctx, store.GroupChallenges, dns, kf)
		if err != nil {
			continue
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("challenge certificate %s: %w", cf, err)
		}
		out = append(out, &c)
	}
	return out, nil
}

// answerTLSALPN completes one tls-alpn-01 handshake and closes the
// connection: the validation needs nothing beyond the handshake.
func answerTLSALPN(c net.Conn, cfg *tls.Config, log logger.Logger) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	tc := tls.Server(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		log.Infof("tls-alpn-01: handshake from %s: %v", c.RemoteAddr(), err)
		return
	}
	_ = tc.Close()
}
