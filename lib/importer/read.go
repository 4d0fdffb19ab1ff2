package importer

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// readPair reads a certificate chain and its key. The chain is kept as the
// client wrote it; when it is the leaf alone and issuerPath names the
// issuer's file, that is appended (lego --no-bundle). The key must be the
// chain's leaf's.
func readPair(chainPath, keyPath, issuerPath string) (chain, keyOut []byte, leaf *x509.Certificate, spec md.KeySpec, err error) {
	chain, err = fsread.ReadFile(chainPath, fsread.MaxPEM)
	if err != nil {
		return nil, nil, nil, spec, err
	}
	certs, err := store.ParseChainPEM(chain)
	if err != nil {
		return nil, nil, nil, spec, fmt.Errorf("%s: %w", chainPath, err)
	}
	if len(certs) == 1 && issuerPath != "" {
		if issuer, ierr := fsread.ReadFile(issuerPath, fsread.MaxPEM); ierr == nil {
			if _, perr := store.ParseChainPEM(issuer); perr != nil {
				return nil, nil, nil, spec, fmt.Errorf("%s: %w", issuerPath, perr)
			}
			if !bytes.HasSuffix(chain, []byte("\n")) {
				chain = append(chain, '\n')
			}
			chain = append(chain, issuer...)
		} else if !errors.Is(ierr, os.ErrNotExist) {
			return nil, nil, nil, spec, ierr
		}
	}
	data, err := fsread.ReadFile(keyPath, fsread.MaxPEM)
	if err != nil {
		return nil, nil, nil, spec, err
	}
	key, keyOut, err := keyPEM(data)
	if err != nil {
		return nil, nil, nil, spec, fmt.Errorf("%s: %w", keyPath, err)
	}
	leaf = certs[0]
	if !keyMatches(leaf, key) {
		return nil, nil, nil, spec, fmt.Errorf("%s is not the key of the certificate in %s", keyPath, chainPath)
	}
	if spec, err = keySpec(key.Public()); err != nil {
		return nil, nil, nil, spec, fmt.Errorf("%s: %w", keyPath, err)
	}
	return chain, keyOut, leaf, spec, nil
}

// readAccountKey reads a PEM account key.
func readAccountKey(path string) (*account, error) {
	data, err := fsread.ReadFile(path, fsread.MaxSmall)
	if err != nil {
		return nil, err
	}
	key, _, err := keyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &account{key: key}, nil
}
