package install

import (
	"crypto/x509"
	"errors"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// liteLeaf is what a run with nothing to do needs of a live leaf
// certificate: its DER (the fingerprint is a hash of it), serial number and
// validity. A run over 100,000 MDs holds one per MD, a tenth of an
// x509.Certificate's size.
type liteLeaf struct {
	Raw                 []byte
	SerialNumber        *big.Int
	NotBefore, NotAfter time.Time
}

// cert is the leaf as an x509.Certificate with only those fields, for the
// functions that take one (made when needed, not kept).
func (l *liteLeaf) cert() *x509.Certificate {
	return &x509.Certificate{Raw: l.Raw, SerialNumber: l.SerialNumber, NotBefore: l.NotBefore, NotAfter: l.NotAfter}
}

// parseLeafLite reads a liteLeaf from a certificate's DER: a fraction of
// x509.ParseCertificate's cost, which matters over ten thousand MDs;
// fullChain parses properly when more is needed.
func parseLeafLite(der []byte) (*liteLeaf, error) {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !in.Empty() || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed certificate")
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) { // version
		return nil, errors.New("malformed certificate version")
	}
	serial := new(big.Int)
	if !tbs.ReadASN1Integer(serial) {
		return nil, errors.New("malformed certificate serial number")
	}
	for _, what := range []string{"signature algorithm", "issuer"} {
		if !tbs.SkipASN1(cbasn1.SEQUENCE) {
			return nil, errors.New("malformed certificate " + what)
		}
	}
	var validity cryptobyte.String
	if !tbs.ReadASN1(&validity, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed certificate validity")
	}
	nb, err := readASN1Time(&validity)
	if err != nil {
		return nil, err
	}
	na, err := readASN1Time(&validity)
	if err != nil {
		return nil, err
	}
	return &liteLeaf{Raw: der, SerialNumber: serial, NotBefore: nb, NotAfter: na}, nil
}

func readASN1Time(s *cryptobyte.String) (time.Time, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if !s.ReadASN1UTCTime(&t) {
			return t, errors.New("malformed UTCTime")
		}
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if !s.ReadASN1GeneralizedTime(&t) {
			return t, errors.New("malformed GeneralizedTime")
		}
	default:
		return t, errors.New("unsupported time format")
	}
	return t, nil
}
