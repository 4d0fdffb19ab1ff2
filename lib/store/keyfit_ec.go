package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"math/big"
)

// sec1 is an ECPrivateKey (RFC 5915).
type sec1 struct {
	Version    int
	PrivateKey []byte
	Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// Named curves (RFC 5480) as crypto/x509 knows them.
var ecCurves = []struct {
	oid   asn1.ObjectIdentifier
	curve elliptic.Curve
}{
	{asn1.ObjectIdentifier{1, 3, 132, 0, 33}, elliptic.P224()},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256()},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384()},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521()},
}

func ecCurve(oid asn1.ObjectIdentifier) elliptic.Curve {
	for _, c := range ecCurves {
		if c.oid.Equal(oid) {
			return c.curve
		}
	}
	return nil
}

// ecPKCS8Public is ecPublic for a PKCS#8 EC key (the curve in the
// algorithm's parameters); nil when it is not one or not plain.
func ecPKCS8Public(p pkcs8) *ecdsa.PublicKey {
	if !p.Algo.Algorithm.Equal(oidEC) {
		return nil
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(p.Algo.Parameters.FullBytes, &oid); err != nil || len(rest) > 0 {
		return nil
	}
	return ecPublic(oid, p.PrivateKey)
}

// ecPublic reads the public key an EC private key carries (its optional
// publicKey field, which OpenSSL and Go always write) instead of computing
// it from the private scalar: a scalar multiplication is most of the cost
// of parsing a P-256 key, and KeyFits runs for every MD in md-parse and
// md-order. As for RSA keys (the modulus is read, not checked against the
// private exponent), the key file is trusted to be consistent; OpenSSL's
// X509_check_private_key, which mod_md uses, compares the same stored
// public key. Everything else a full parse checks is checked (version,
// named curve, scalar in [1, N-1], the point on the curve); nil means
// "not this cheap form", and the caller parses the key fully.
func ecPublic(curveOID asn1.ObjectIdentifier, der []byte) *ecdsa.PublicKey {
	var k sec1
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) > 0 || k.Version != 1 {
		return nil
	}
	if curveOID == nil {
		curveOID = k.Curve
	}
	curve := ecCurve(curveOID)
	if curve == nil || len(k.PublicKey.Bytes) == 0 || k.PublicKey.BitLength != 8*len(k.PublicKey.Bytes) {
		return nil
	}
	n := curve.Params().N
	d := new(big.Int).SetBytes(k.PrivateKey)
	if len(k.PrivateKey) > (n.BitLen()+7)/8 || d.Sign() <= 0 || d.Cmp(n) >= 0 {
		return nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, k.PublicKey.Bytes)
	if err != nil {
		return nil
	}
	return pub
}
