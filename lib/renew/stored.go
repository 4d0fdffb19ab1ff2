package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// StoredState is mod_md's state_init for m: it reads m's certificates (the
// static files of MDCertificateFile, else domains/<set>/pubcert*.pem of st;
// set "" or st nil: none), checks that each stored certificate fits its
// private key, and judges them with State. The store sync (md-parse) and
// md-parse's provisional state for static files use it. For state error,
// unreadable says why (mod_md's description, "error initializing", does
// not).
func StoredState(ctx context.Context, st *store.Store, set string, m *md.MD) (state int, descr string, unreadable error) {
	slots := Slots(m)
	certs := make([]Cert, 0, len(slots))
	for i, spec := range slots {
		c := Cert{Spec: spec}
		chain, err := loadSlot(ctx, st, set, m, i, spec)
		switch {
		case errors.Is(err, fs.ErrNotExist) || (err == nil && len(chain) == 0):
		case err != nil:
			c.Unreadable = true
			if unreadable == nil {
				unreadable = err
			}
		default:
			c.Leaf = chain[0]
			if len(m.CertFiles) == 0 && set != "" && st != nil {
				fits, err := st.KeyFits(ctx, store.GroupDomains, set, spec.FileName("privkey"), c.Leaf)
				c.KeyMismatch = err == nil && !fits
			}
		}
		certs = append(certs, c)
		if c.Leaf == nil {
			break // mod_md stops at the first problem
		}
	}
	state, descr = State(m, certs)
	if state != md.StateError {
		unreadable = nil
	}
	return state, descr, unreadable
}

func loadSlot(ctx context.Context, st *store.Store, set string, m *md.MD, i int, spec md.KeySpec) ([]*x509.Certificate, error) {
	if len(m.CertFiles) > 0 {
		data, err := fsread.ReadFile(m.CertFiles[i], fsread.MaxPEM)
		if err == nil {
			var chain []*x509.Certificate
			if chain, err = store.ParseChainPEM(data); err == nil {
				return chain, nil
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, staticFileError(m.CertFiles[i], err)
	}
	if set == "" || st == nil {
		return nil, fs.ErrNotExist
	}
	return st.LoadChain(ctx, store.GroupDomains, set, spec.FileName("pubcert"))
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
