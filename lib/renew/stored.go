package renew

import (
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// maxStaticCert bounds a static certificate file read for the state check.
const maxStaticCert = 1 << 20

// StoredState is mod_md's state_init for m: it reads m's certificates (the
// static files of MDCertificateFile, else domains/<set>/pubcert*.pem of st;
// set "" or st nil: none) and judges them with State. The store sync
// (md-parse) and md-parse's provisional state for static files use it.
func StoredState(st *store.Store, set string, m *md.MD) (int, string) {
	slots := Slots(m)
	certs := make([]Cert, 0, len(slots))
	for i, spec := range slots {
		c := Cert{Spec: spec}
		chain, err := loadSlot(st, set, m, i, spec)
		switch {
		case errors.Is(err, fs.ErrNotExist) || (err == nil && len(chain) == 0):
		case err != nil:
			c.Unreadable = true
		default:
			c.Leaf = chain[0]
		}
		certs = append(certs, c)
		if c.Leaf == nil {
			break // mod_md stops at the first problem
		}
	}
	return State(m, certs)
}

func loadSlot(st *store.Store, set string, m *md.MD, i int, spec md.KeySpec) ([]*x509.Certificate, error) {
	if len(m.CertFiles) > 0 {
		f, err := os.Open(m.CertFiles[i])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxStaticCert))
		if err != nil {
			return nil, err
		}
		return store.ParseChainPEM(data)
	}
	if set == "" || st == nil {
		return nil, fs.ErrNotExist
	}
	return st.LoadChain(store.GroupDomains, set, spec.FileName("pubcert"))
}
