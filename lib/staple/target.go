package staple

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Target is one certificate to keep a response for.
type Target struct {
	Spec   string     // key spec name ("rsa", "secp384r1"), or the file name for --cert
	File   string     // where the chain came from: store file name or --cert path
	PEM    []byte     // leaf first, then intermediates
	ID     string     // CertID of the leaf
	Deploy string     // where to write the DER response for nginx/HAProxy, or ""
	Mode   *md.Deploy // ownership and mode of Deploy
	// DeployCert is the certificate file of the deploy set Deploy goes
	// into (cert.pem): the response is written only next to its own
	// certificate.
	DeployCert string

	leaf, issuer *x509.Certificate
	ocspURL      string
	crlURL       string
	parseErr     error
}

// parse reads the chain once: leaf, issuer and revocation URLs.
func (t *Target) parse() error {
	if t.leaf != nil || t.parseErr != nil {
		return t.parseErr
	}
	t.parseErr = t.doParse()
	return t.parseErr
}

func (t *Target) doParse() error {
	chain, err := store.ParseChainPEM(t.PEM)
	if err != nil {
		return fmt.Errorf("reading certificate chain %s: %w", t.File, err)
	}
	t.leaf = chain[0]
	for _, c := range chain[1:] {
		if t.leaf.CheckSignatureFrom(c) == nil {
			t.issuer = c
			break
		}
	}
	for _, u := range t.leaf.OCSPServer {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			t.ocspURL = u
			break
		}
	}
	for _, u := range t.leaf.CRLDistributionPoints {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			t.crlURL = u
			break
		}
	}
	if t.issuer == nil {
		if len(chain) < 2 {
			return fmt.Errorf("%s holds no issuer certificate after the leaf: OCSP needs the issuer", t.File)
		}
		return fmt.Errorf("%s: no certificate in the chain issued the leaf %q", t.File, t.leaf.Subject)
	}
	return nil
}

// targetsOf lists the installed certificates of an MD: one per key spec,
// domains/<md>/pubcert[.<spec>].pem. A missing file gives a target with
// PEM nil (not installed yet).
func targetsOf(ctx context.Context, st *store.Store, rec *md.Record) ([]*Target, error) {
	var out []*Target
	for _, ks := range rec.PrivKey.Effective() {
		file := ks.FileName("pubcert")
		t := &Target{Spec: ks.Name(), File: file}
		data, err := st.Read(ctx, store.GroupDomains, rec.Name, file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			t.PEM = data
			if t.ID, err = leafID(data); err != nil {
				return nil, fmt.Errorf("domains/%s/%s: %w", rec.Name, file, err)
			}
			if rec.Host != nil && rec.Host.Deploy != nil && rec.Host.Deploy.Dir != "" {
				t.Deploy = DeployFile(rec.Host.Deploy.Dir, ks)
				t.DeployCert = filepath.Join(rec.Host.Deploy.Dir, ks.FileName("cert"))
				t.Mode = rec.Host.Deploy
			}
		}
		out = append(out, t)
	}
	return out, nil
}
