package staple

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"golang.org/x/crypto/ocsp"
)

// Certificate statuses as mod_md writes them.
const (
	StatusGood    = "good"
	StatusRevoked = ocspfile.StatusRevoked
	StatusUnknown = "unknown"
	StatusNone    = "none" // no response and no other revocation source
)

// DefaultLifetime is the validity assumed for a response without
// nextUpdate, as mod_md assumes.
const DefaultLifetime = 12 * time.Hour

// MaxClockSkew is how far in the future a response's thisUpdate may lie.
const MaxClockSkew = 5 * time.Minute

// Response is an accepted OCSP response for one certificate.
type Response struct {
	DER        []byte
	Status     string // StatusGood or StatusRevoked
	ThisUpdate time.Time
	NextUpdate time.Time // zero when the responder gave none
	RevokedAt  time.Time
	Reason     int
}

// Valid is the response's validity as mod_md stores it: thisUpdate to
// nextUpdate, or thisUpdate + 12 h.
func (r *Response) Valid() (from, until time.Time) {
	until = r.NextUpdate
	if until.IsZero() {
		until = r.ThisUpdate.Add(DefaultLifetime)
	}
	return r.ThisUpdate, until
}

// ErrStatusUnknown is a responder saying it does not know the certificate.
var ErrStatusUnknown = errors.New("responder says the certificate status is unknown")

// Verify parses an OCSP response and accepts it only if it is a successful
// basic response that carries a status for exactly this leaf (serial and
// issuer name and key hashes), is signed by the issuer or by a delegated
// responder certificate issued by it with id-kp-OCSPSigning, has a
// thisUpdate not in the future and a nextUpdate (if any) after thisUpdate
// and after now, and says good or revoked.
func Verify(der []byte, leaf, issuer *x509.Certificate, now time.Time) (*Response, error) {
	if len(der) == 0 {
		return nil, errors.New("empty response")
	}
	ids, err := responseCertIDs(der)
	if err != nil {
		return nil, err
	}
	single, err := matchCertID(ids, leaf, issuer)
	if err != nil {
		return nil, err
	}
	// Parse without the issuer: the ocsp package would reject a response
	// that embeds the issuer certificate itself (as openssl ocsp -rsigner
	// does). The signature is checked below.
	r, err := ocsp.ParseResponseForCert(der, leaf, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("responder answered %q", re.Status.String())
		}
		return nil, fmt.Errorf("invalid OCSP response: %w", err)
	}
	switch {
	case r.Certificate == nil || bytes.Equal(r.Certificate.Raw, issuer.Raw):
		if err := r.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("response is not signed by the issuer %q: %w", issuer.Subject, err)
		}
	default:
		// Signed by the embedded certificate (checked when parsing): it
		// must be a delegated responder of this issuer.
		if err := checkDelegate(r.Certificate, issuer, now); err != nil {
			return nil, err
		}
	}
	// ParseResponseForCert picks the first single response with our serial;
	// make sure it is the one whose issuer hashes matched.
	if r.ThisUpdate.IsZero() || !r.ThisUpdate.Equal(single.ThisUpdate) {
		return nil, errors.New("response for this serial number has another issuer")
	}
	if r.ThisUpdate.After(now.Add(MaxClockSkew)) {
		return nil, fmt.Errorf("thisUpdate %s is in the future", r.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !r.NextUpdate.IsZero() {
		if !r.NextUpdate.After(r.ThisUpdate) {
			return nil, fmt.Errorf("nextUpdate %s is not after thisUpdate %s",
				r.NextUpdate.UTC().Format(time.RFC3339), r.ThisUpdate.UTC().Format(time.RFC3339))
		}
		if !r.NextUpdate.After(now) {
			return nil, fmt.Errorf("response is stale: nextUpdate %s has passed", r.NextUpdate.UTC().Format(time.RFC3339))
		}
	} else if !r.ThisUpdate.Add(DefaultLifetime).After(now) {
		return nil, fmt.Errorf("response is stale: thisUpdate %s without nextUpdate is older than %s",
			r.ThisUpdate.UTC().Format(time.RFC3339), DefaultLifetime)
	}
	out := &Response{DER: der, ThisUpdate: r.ThisUpdate, NextUpdate: r.NextUpdate}
	switch r.Status {
	case ocsp.Good:
		out.Status = StatusGood
	case ocsp.Revoked:
		out.Status = StatusRevoked
		out.RevokedAt, out.Reason = r.RevokedAt, r.RevocationReason
	default:
		return nil, ErrStatusUnknown
	}
	return out, nil
}

// checkDelegate accepts a responder certificate issued by issuer (the
// signature was checked by the ocsp package) only for OCSP signing and
// only while it is valid.
func checkDelegate(resp, issuer *x509.Certificate, now time.Time) error {
	if err := resp.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("responder certificate %q is not issued by %q: %w", resp.Subject, issuer.Subject, err)
	}
	ok := false
	for _, u := range resp.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("responder certificate %q lacks id-kp-OCSPSigning", resp.Subject)
	}
	if now.Before(resp.NotBefore) || now.After(resp.NotAfter) {
		return fmt.Errorf("responder certificate %q is not valid now (%s to %s)", resp.Subject,
			resp.NotBefore.UTC().Format(time.RFC3339), resp.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// The parts of RFC 6960's ASN.1 needed to read every single response's
// CertID, which golang.org/x/crypto/ocsp matches by serial only.
type asnResponse struct {
	Status   asn1.Enumerated
	Response asnResponseBytes `asn1:"explicit,tag:0,optional"`
}

type asnResponseBytes struct {
	ResponseType asn1.ObjectIdentifier
	Response     []byte
}

type asnBasicResponse struct {
	TBSResponseData    asnResponseData
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
	Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type asnResponseData struct {
	Raw            asn1.RawContent
	Version        int `asn1:"optional,default:0,explicit,tag:0"`
	RawResponderID asn1.RawValue
	ProducedAt     time.Time `asn1:"generalized"`
	Responses      []asnSingleResponse
}

type asnSingleResponse struct {
	CertID     asnCertID
	Good       asn1.Flag        `asn1:"tag:0,optional"`
	Revoked    asnRevokedInfo   `asn1:"tag:1,optional"`
	Unknown    asn1.Flag        `asn1:"tag:2,optional"`
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"generalized,explicit,tag:0,optional"`
	Extensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

type asnRevokedInfo struct {
	RevocationTime time.Time       `asn1:"generalized"`
	Reason         asn1.Enumerated `asn1:"explicit,tag:0,optional"`
}

type asnCertID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	IssuerKeyHash []byte
	SerialNumber  *big.Int
}

var oidBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}

var hashByOID = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// responseCertIDs returns the single responses of a successful basic OCSP
// response, or a parse or status error.
func responseCertIDs(der []byte) ([]asnSingleResponse, error) {
	var resp asnResponse
	rest, err := asn1.Unmarshal(der, &resp)
	if err != nil {
		return nil, fmt.Errorf("response does not parse as OCSP: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("response does not parse as OCSP: trailing data")
	}
	if st := ocsp.ResponseStatus(resp.Status); st != ocsp.Success {
		return nil, fmt.Errorf("responder answered %q", st.String())
	}
	if !resp.Response.ResponseType.Equal(oidBasic) {
		return nil, fmt.Errorf("response type %v is not a basic OCSP response", resp.Response.ResponseType)
	}
	var basic asnBasicResponse
	if rest, err := asn1.Unmarshal(resp.Response.Response, &basic); err != nil || len(rest) > 0 {
		if err == nil {
			err = errors.New("trailing data")
		}
		return nil, fmt.Errorf("basic OCSP response does not parse: %w", err)
	}
	if len(basic.TBSResponseData.Responses) == 0 {
		return nil, errors.New("response holds no certificate status")
	}
	return basic.TBSResponseData.Responses, nil
}

// matchCertID finds the single response about leaf as issued by issuer.
func matchCertID(list []asnSingleResponse, leaf, issuer *x509.Certificate) (asnSingleResponse, error) {
	var pub struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &pub); err != nil {
		return asnSingleResponse{}, fmt.Errorf("issuer public key: %w", err)
	}
	for _, s := range list {
		h, ok := hashByOID[s.CertID.HashAlgorithm.Algorithm.String()]
		if !ok || !h.Available() || s.CertID.SerialNumber == nil || s.CertID.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			continue
		}
		hn := h.New()
		hn.Write(issuer.RawSubject)
		nameHash := hn.Sum(nil)
		hk := h.New()
		hk.Write(pub.PublicKey.RightAlign())
		if bytes.Equal(nameHash, s.CertID.NameHash) && bytes.Equal(hk.Sum(nil), s.CertID.IssuerKeyHash) {
			return s, nil
		}
	}
	serials := ""
	for i, s := range list {
		if i > 0 {
			serials += ", "
		}
		if s.CertID.SerialNumber != nil {
			serials += md.SerialHex(s.CertID.SerialNumber)
		}
	}
	// serials as md-status and openssl print them (md.SerialHex)
	return asnSingleResponse{}, fmt.Errorf("response has no status for certid (serial %s, issuer %q); it answers for serial(s) [%s]",
		md.SerialHex(leaf.SerialNumber), issuer.Subject.String(), serials)
}

// Request builds the DER OCSP request for leaf issued by issuer (SHA-1
// cert ID, as mod_md and nearly every responder use).
func Request(leaf, issuer *x509.Certificate) ([]byte, error) {
	return ocsp.CreateRequest(leaf, issuer, nil)
}
