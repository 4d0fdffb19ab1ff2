package store

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// oidRSA is rsaEncryption (RFC 8017); oidEC is id-ecPublicKey (RFC 5480).
var (
	oidRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidEC  = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// pkcs8 is a PKCS#8 PrivateKeyInfo.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// pkcs1 is an RSAPrivateKey (RFC 8017 A.1.2).
type pkcs1 struct {
	Version               int
	N                     *big.Int
	E                     int
	D, P, Q, Dp, Dq, Qinv *big.Int
	AdditionalPrimes      []asn1.RawValue `asn1:"optional,omitempty"`
}

// PublicKeyPEM returns the public half of a PEM private key (pass decrypts
// an encrypted one). An RSA key's modulus and exponent are read as they
// are: parsing it fully validates and precomputes, milliseconds per key,
// which commands that check every MD's certificate against its key (md-parse,
// md-order, md-status) cannot afford for thousands of MDs.
func PublicKeyPEM(data, pass []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	der := block.Bytes
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		var err error
		if der, err = decryptPKCS8(der, pass); err != nil {
			return nil, err
		}
		fallthrough
	case "PRIVATE KEY":
		var p pkcs8
		if rest, err := asn1.Unmarshal(der, &p); err == nil && len(rest) == 0 {
			if p.Algo.Algorithm.Equal(oidRSA) {
				return rsaPublic(p.PrivateKey)
			}
			if pub := ecPKCS8Public(p); pub != nil {
				return pub, nil
			}
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
		if s, ok := k.(crypto.Signer); ok {
			return s.Public(), nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	case "RSA PRIVATE KEY":
		return rsaPublic(der)
	case "EC PRIVATE KEY":
		if pub := ecPublic(nil, der); pub != nil {
			return pub, nil
		}
	}
	k, err := ParseKeyPEM(data, pass)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}

func rsaPublic(der []byte) (crypto.PublicKey, error) {
	var k pkcs1
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) > 0 {
		return nil, errors.New("parsing private key: malformed RSA key")
	}
	if k.N == nil || k.N.Sign() <= 0 || k.E < 2 {
		return nil, errors.New("parsing private key: RSA key without a valid modulus or exponent")
	}
	return &rsa.PublicKey{N: k.N, E: k.E}, nil
}

// KeyFits reports whether the private key in <group>/<name>/<file> is the
// key of cert. A missing or unreadable key is an error, not a mismatch.
func (s *Store) KeyFits(ctx context.Context, g Group, name, file string, cert *x509.Certificate) (bool, error) {
	data, err := s.Read(ctx, g, name, file)
	if err != nil {
		return false, err
	}
	pub, err := PublicKeyPEM(data, s.pass)
	if err != nil {
		return false, s.corrupt(g, name, file, err)
	}
	cp, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && cp.Equal(pub), nil
}
