package staple

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DefaultCRLLifetime is the validity assumed for a CRL without nextUpdate.
const DefaultCRLLifetime = 24 * time.Hour

// ParseCRL parses a DER (or PEM) CRL and accepts it only if issuer signed
// it, names issuer as its issuer, has a thisUpdate not in the future and a
// nextUpdate (if any) after now.
func ParseCRL(data []byte, issuer *x509.Certificate, now time.Time) (*x509.RevocationList, error) {
	if block, _ := pem.Decode(data); block != nil && block.Type == "X509 CRL" {
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("CRL does not parse: %w", err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("CRL is issued by %q, not by the certificate's issuer %q", crl.Issuer, issuer.Subject)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("CRL signature does not verify against the issuer %q: %w", issuer.Subject, err)
	}
	if crl.ThisUpdate.After(now.Add(MaxClockSkew)) {
		return nil, fmt.Errorf("CRL thisUpdate %s is in the future", crl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if _, until := crlValid(crl); !until.After(now) {
		return nil, fmt.Errorf("CRL is stale: nextUpdate %s has passed", until.UTC().Format(time.RFC3339))
	}
	return crl, nil
}

// crlValid is a CRL's validity: thisUpdate to nextUpdate (or + 24 h).
func crlValid(crl *x509.RevocationList) (from, until time.Time) {
	until = crl.NextUpdate
	if until.IsZero() {
		until = crl.ThisUpdate.Add(DefaultCRLLifetime)
	}
	return crl.ThisUpdate, until
}

// CheckCRL reports the status of leaf in a verified CRL.
func CheckCRL(crl *x509.RevocationList, leaf *x509.Certificate) (status string, revokedAt time.Time) {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return StatusRevoked, e.RevocationTime
		}
	}
	return StatusGood, time.Time{}
}

// errNoRevocationSource is a certificate with neither OCSP nor CRL URL.
var errNoRevocationSource = errors.New("the certificate names neither an OCSP responder nor a CRL distribution point: its revocation cannot be checked")

// oidIssuingDistributionPoint is the CRL extension naming the CRL's scope
// (RFC 5280 §5.2.5); sharded CRLs such as Let's Encrypt's carry it.
var oidIssuingDistributionPoint = []int{2, 5, 29, 28}

// crlScope returns the URIs of a CRL's issuing distribution point, if it
// has one with a full name.
func crlScope(crl *x509.RevocationList) []string {
	for _, ext := range crl.Extensions {
		if !ext.Id.Equal(oidIssuingDistributionPoint) {
			continue
		}
		in := cryptobyte.String(ext.Value)
		var seq, dp, full cryptobyte.String
		var hasDP, hasFull bool
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) ||
			!seq.ReadOptionalASN1(&dp, &hasDP, cbasn1.Tag(0).ContextSpecific().Constructed()) || !hasDP ||
			!dp.ReadOptionalASN1(&full, &hasFull, cbasn1.Tag(0).ContextSpecific().Constructed()) || !hasFull {
			return nil
		}
		var uris []string
		for !full.Empty() {
			var name cryptobyte.String
			var tag cbasn1.Tag
			if !full.ReadAnyASN1(&name, &tag) {
				return uris
			}
			if tag == cbasn1.Tag(6).ContextSpecific() {
				uris = append(uris, string(name))
			}
		}
		return uris
	}
	return nil
}

// checkScope makes sure a CRL is the one the certificate points to: a
// sharded CRL whose issuing distribution point names other URLs is another
// shard (signed by the same issuer, but silent about this certificate).
func checkScope(crl *x509.RevocationList, url string) error {
	uris := crlScope(crl)
	if len(uris) == 0 {
		return nil
	}
	for _, u := range uris {
		if u == url {
			return nil
		}
	}
	return fmt.Errorf("CRL from %s is another shard: its issuing distribution point names %s", url, strings.Join(uris, ", "))
}
