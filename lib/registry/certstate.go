package registry

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// oidTLSFeature is the TLS Feature extension (RFC 7633) that carries
// must-staple.
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// certState is mod_md's state_init: an MD is complete when, for each of
// its key specs (or static files), a certificate exists that covers all its
// domains and has must-staple exactly when configured; else incomplete
// with mod_md's description, or error when a certificate is unreadable.
// set is the domains/ directory holding the MD's certificates ("" if none).
// For state error, unreadable says why (mod_md's description does not).
func certState(st *store.Store, set string, m *md.MD) (state int, descr string, unreadable error) {
	specs := m.PrivKey.Effective()
	n := len(specs)
	if len(m.CertFiles) > 0 {
		n = len(m.CertFiles)
	}
	for i := 0; i < n; i++ {
		spec := md.DefaultKeySpecs[0]
		if i < len(specs) {
			spec = specs[i]
		}
		name := spec.Name()
		chain, err := loadCert(st, set, m, i, spec)
		switch {
		case errors.Is(err, fs.ErrNotExist) || (err == nil && len(chain) == 0):
			return md.StateIncomplete, fmt.Sprintf("certificate(%s) is missing", name), nil
		case err != nil:
			if len(m.CertFiles) > 0 {
				err = staticFileError(m.CertFiles[i], err)
			}
			return md.StateError, "error initializing", err
		}
		leaf := chain[0]
		if len(m.CertFiles) == 0 && set != "" {
			if fits, err := st.KeyFits(store.GroupDomains, set, spec.FileName("privkey"), leaf); err == nil && !fits {
				return md.StateIncomplete, renew.KeyMismatchDescr(name), nil
			}
		}
		for _, d := range m.Domains {
			if !covered(leaf.DNSNames, d) {
				return md.StateIncomplete, fmt.Sprintf("certificate(%s) does not cover all domains.", name), nil
			}
		}
		if has := mustStaple(leaf); has != m.MustStaple {
			not, hasNot := " not", ""
			if m.MustStaple {
				not, hasNot = "", " not"
			}
			return md.StateIncomplete, fmt.Sprintf("'must-staple' is%s requested, but certificate(%s) has it%s enabled.", not, name, hasNot), nil
		}
	}
	return md.StateComplete, "", nil
}

func loadCert(st *store.Store, set string, m *md.MD, i int, spec md.KeySpec) ([]*x509.Certificate, error) {
	if len(m.CertFiles) > 0 {
		data, err := fsread.ReadFile(m.CertFiles[i], fsread.MaxPEM)
		if err != nil {
			return nil, err
		}
		return store.ParseChainPEM(data)
	}
	if set == "" {
		return nil, fs.ErrNotExist
	}
	return st.LoadChain(store.GroupDomains, set, spec.FileName("pubcert"))
}

func covered(sans []string, domain string) bool {
	for _, s := range sans {
		if md.DomainMatches(s, domain) {
			return true
		}
	}
	return false
}

func mustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidTLSFeature) {
			// SEQUENCE { INTEGER 5 } is status_request
			return bytes.Contains(e.Value, []byte{0x02, 0x01, 0x05})
		}
	}
	return false
}

// staticFileError names the MDCertificateFile once: fsread and os errors
// carry the path already, parse errors do not.
func staticFileError(path string, err error) error {
	var fe *fsread.Error
	var pe *fs.PathError
	if errors.As(err, &fe) || errors.As(err, &pe) {
		return fmt.Errorf("MDCertificateFile %w", err)
	}
	return fmt.Errorf("MDCertificateFile %s: %w", path, err)
}
