package status

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
)

// CertInfo is what md-status reports about one certificate, computed as
// mod_md does (src/md_crypt.c, src/md_status.c).
type CertInfo struct {
	Cert       *x509.Certificate
	HasIssuer  bool      // the chain holds the issuer (needed for OCSP)
	IssuerName string    // OpenSSL X509_NAME_oneline: /C=US/O=.../CN=...
	IssuerURI  string    // first AIA caIssuers URI
	NotBefore  time.Time // validity
	NotAfter   time.Time
	Serial     string // md.SerialHex
	SHA256     string // lowercase hex of SHA-256 over the DER
	SHA1       string // lowercase hex of SHA-1 over the DER: mod_md's OCSP id
	ARICertID  string // b64url(AKI keyid) "." b64url(serial bytes); "" without AKI
	OCSPURL    string // first AIA OCSP responder
	MustStaple bool   // TLS feature extension present
}

// NewCertInfo describes the leaf of a chain (leaf first).
func NewCertInfo(chain []*x509.Certificate) *CertInfo {
	c := chain[0] // entries after the leaf may be nil (see parseChain)
	ci := &CertInfo{
		Cert:       c,
		HasIssuer:  len(chain) > 1,
		IssuerName: OnelineName(c.RawIssuer),
		NotBefore:  c.NotBefore.UTC(),
		NotAfter:   c.NotAfter.UTC(),
		Serial:     md.SerialHex(c.SerialNumber),
		ARICertID:  ARICertID(c),
	}
	s256 := sha256.Sum256(c.Raw)
	ci.SHA256 = hex.EncodeToString(s256[:])
	s1 := sha1.Sum(c.Raw)
	ci.SHA1 = hex.EncodeToString(s1[:])
	if len(c.IssuingCertificateURL) > 0 {
		ci.IssuerURI = c.IssuingCertificateURL[0]
	}
	if len(c.OCSPServer) > 0 {
		ci.OCSPURL = c.OCSPServer[0]
	}
	ci.MustStaple = renew.HasMustStaple(c)
	return ci
}

// ARICertID is the RFC 9773 certificate id as mod_md computes it
// (md_cert_get_ari_cert_id): base64url of the authority key identifier, a
// dot, base64url of the serial's minimal unsigned bytes (no DER sign byte).
func ARICertID(c *x509.Certificate) string {
	if len(c.AuthorityKeyId) == 0 || c.SerialNumber == nil {
		return ""
	}
	ser := c.SerialNumber.Bytes()
	if len(ser) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(ser)
}

type attrTypeValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rdnSET []attrTypeValue

// shortNames are OpenSSL's short names (OBJ_nid2sn) for name attributes.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
}

// OnelineName formats a DER-encoded X.501 name as OpenSSL's
// X509_NAME_oneline: "/C=US/O=Let's Encrypt/CN=R3", attributes by short
// name (numeric OID when unknown), values of one multi-valued RDN joined
// by "+", "/" and "+" in values escaped with a backslash, bytes outside
// ' '..'~' as \xHH (OpenSSL 3).
func OnelineName(der []byte) string {
	if s, ok := issuerNames.get(der); ok {
		return s
	}
	s := onelineName(der)
	issuerNames.put(der, s)
	return s
}

// issuerNames remembers OnelineName's answers: the MDs of a store have a
// handful of issuers.
var issuerNames sharedCache[string]

func onelineName(der []byte) string {
	var seq []rdnSET
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
		return ""
	}
	var b strings.Builder
	for _, rdn := range seq {
		for i, atv := range rdn {
			name, ok := shortNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			if i == 0 {
				b.WriteByte('/')
			} else {
				b.WriteByte('+') // another value of a multi-valued RDN
			}
			b.WriteString(name)
			b.WriteByte('=')
			for _, c := range atv.Value.Bytes {
				switch {
				case c < ' ' || c > '~':
					fmt.Fprintf(&b, "\\x%02X", c)
				case c == '/' || c == '+':
					b.WriteByte('\\')
					b.WriteByte(c)
				default:
					b.WriteByte(c)
				}
			}
		}
	}
	return b.String()
}
