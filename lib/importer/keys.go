package importer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// keyPEM finds the one private key in a PEM file. It returns the key and
// the bytes to store: the file itself when the key is all it holds (so the
// store's copy is byte-identical), else the key's block alone (an
// "EC PARAMETERS" block before it, as `openssl ecparam -genkey` writes).
func keyPEM(data []byte) (crypto.Signer, []byte, error) {
	var found *pem.Block
	others := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") && found == nil {
			found = b
		} else {
			others++
		}
	}
	if found == nil {
		return nil, nil, errors.New("no PEM private key found")
	}
	if found.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, nil, errors.New("the private key is encrypted with a passphrase")
	}
	out := data
	if others > 0 {
		out = pem.EncodeToMemory(found)
	}
	key, err := store.ParseKeyPEM(out, nil)
	if err != nil {
		return nil, nil, err
	}
	return key, out, nil
}

// keySpec is the mod_md key spec a certificate key fits: "RSA <bits>" or
// the curve under mod_md's (OpenSSL's) name, which also names its files.
func keySpec(key crypto.PublicKey) (md.KeySpec, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < md.MinRSABits {
			return md.KeySpec{}, fmt.Errorf("RSA key of %d bits: mod_md needs at least %d", bits, md.MinRSABits)
		}
		return md.KeySpec{Type: md.KeyRSA, Bits: bits}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return md.KeySpec{Type: md.KeyEC, Curve: "secp256r1"}, nil
		case elliptic.P384():
			return md.KeySpec{Type: md.KeyEC, Curve: "secp384r1"}, nil
		case elliptic.P521():
			return md.KeySpec{Type: md.KeyEC, Curve: "secp521r1"}, nil
		}
		return md.KeySpec{}, fmt.Errorf("EC key on curve %s is not supported", k.Curve.Params().Name)
	}
	return md.KeySpec{}, fmt.Errorf("%T keys are not supported", key)
}

// specWord is a key spec as md.toml's private-keys and MDPrivateKeys
// take it.
func specWord(k md.KeySpec) string {
	if k.Type == md.KeyEC {
		return k.Curve
	}
	return fmt.Sprintf("RSA %d", k.Bits)
}

// keyMatches reports whether a certificate is for the private key.
func keyMatches(leaf *x509.Certificate, key crypto.Signer) bool {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// jwk is a private JSON Web Key (RFC 7517/7518) as certbot stores
// account keys (private_key.json).
type jwk struct {
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	P   string `json:"p"`
	Q   string `json:"q"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWK turns a private JWK into a key, checking it is consistent.
func parseJWK(data []byte) (crypto.Signer, error) {
	var k jwk
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("not a JSON web key: %w", err)
	}
	num := func(field, s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("JSON web key field %q is not base64url data", field)
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "RSA":
		var v [5]*big.Int
		for i, f := range [][2]string{{"n", k.N}, {"e", k.E}, {"d", k.D}, {"p", k.P}, {"q", k.Q}} {
			n, err := num(f[0], f[1])
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		if !v[1].IsInt64() || v[1].Int64() > 1<<31 {
			return nil, errors.New("JSON web key: RSA exponent out of range")
		}
		key := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: v[0], E: int(v[1].Int64())}, D: v[2], Primes: []*big.Int{v[3], v[4]}}
		if err := key.Validate(); err != nil {
			return nil, fmt.Errorf("JSON web key: %w", err)
		}
		key.Precompute()
		return key, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("JSON web key: curve %q is not supported", k.Crv)
		}
		d, err := num("d", k.D)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		raw := make([]byte, size)
		if d.BitLen() > size*8 {
			return nil, errors.New("JSON web key: EC private value out of range")
		}
		d.FillBytes(raw)
		key, err := ecdsa.ParseRawPrivateKey(curve, raw)
		if err != nil {
			return nil, fmt.Errorf("JSON web key: %w", err)
		}
		x, err := num("x", k.X)
		if err != nil {
			return nil, err
		}
		if pub, _ := key.PublicKey.Bytes(); len(pub) != 1+2*size || new(big.Int).SetBytes(pub[1:1+size]).Cmp(x) != 0 {
			return nil, errors.New("JSON web key: public point does not match the private value")
		}
		return key, nil
	}
	return nil, fmt.Errorf("JSON web key type %q is not supported", k.Kty)
}

// registration is the account registration certbot (regr.json) and lego
// (account.json "registration") keep: the CA's account object and its URL.
type registration struct {
	Body struct {
		Status  string   `json:"status"`
		Contact []string `json:"contact"`
		Orders  string   `json:"orders"`
	} `json:"body"`
	URI string `json:"uri"`
}
