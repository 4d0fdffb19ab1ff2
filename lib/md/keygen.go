package md

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// GenerateKey makes a private key for a key spec: RSA (2048 bits unless
// the spec says more, at most 8192) or an EC curve Go supports (P-256,
// P-384, P-521 and their aliases). Curves mod_md accepts but Go cannot
// generate (X25519, ...) are an error naming the spec.
func GenerateKey(spec KeySpec) (crypto.Signer, error) {
	switch spec.Type {
	case KeyEC:
		name, ok := CurveName(spec.Curve)
		if !ok {
			return nil, fmt.Errorf("key spec %s: curve %q is not supported (use P-256, P-384 or P-521)", spec, spec.Curve)
		}
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[name]
		return ecdsa.GenerateKey(curve, rand.Reader)
	case KeyRSA, KeyDefault, "":
		bits := spec.Bits
		if bits == 0 {
			bits = MinRSABits
		}
		if bits < MinRSABits || bits > 8192 {
			return nil, fmt.Errorf("key spec %s: RSA keys must have 2048 to 8192 bits", spec)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return nil, fmt.Errorf("key spec type %q is not supported", spec.Type)
}
