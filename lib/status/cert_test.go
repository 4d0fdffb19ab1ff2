package status

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
)

// openssl asks the real openssl for a certificate's fields.
func openssl(t *testing.T, c *x509.Certificate, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "c.pem")
	must(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600))
	out, err := exec.Command("openssl", append([]string{"x509", "-in", f, "-noout"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// selfIssued makes a certificate whose issuer is name (raw DER) and serial.
func selfIssued(t *testing.T, rawName []byte, serial *big.Int, aki []byte) *x509.Certificate {
	t.Helper()
	return certtest.New(t, certtest.Spec{Names: []string{"x.test"}, RawSubject: rawName, Serial: serial,
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1800000000, 0), AuthorityKeyID: aki, SubjectKeyID: aki}).Cert
}

func rawName(t *testing.T, rdns ...[]attrTypeValue) []byte {
	t.Helper()
	seq := make([]rdnSET, len(rdns))
	for i, r := range rdns {
		seq[i] = rdnSET(r)
	}
	b, err := asn1.Marshal(seq)
	must(t, err)
	return b
}

func atv(oid asn1.ObjectIdentifier, tag int, value string) attrTypeValue {
	return attrTypeValue{Type: oid, Value: asn1.RawValue{Tag: tag, Class: asn1.ClassUniversal, Bytes: []byte(value)}}
}

// TestCertFieldsAgainstOpenSSL checks issuer-name, serial, the SHA-256
// fingerprint and the ARI id against the openssl command line, for real
// Pebble certificates and for names and serials that are hard to format.
func TestCertFieldsAgainstOpenSSL(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	var certs []*x509.Certificate
	for _, ec := range []bool{false, true} {
		var chain []*x509.Certificate
		var err error
		if ec {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			chain, err = ca.Issue(context.Background(), []string{"fields.test", "www.fields.test"}, k)
		} else {
			k, _ := rsa.GenerateKey(rand.Reader, 2048)
			chain, err = ca.Issue(context.Background(), []string{"fields.test"}, k)
		}
		must(t, err)
		certs = append(certs, chain...)
	}
	const utf8, printable, ia5 = 12, 19, 22
	aki := []byte{0xAC, 0x05, 0x06, 0xA0, 0x56, 0xAF, 0, 9, 2, 0x87, 0x30, 0x91, 0xA2, 0xCA, 0x96, 0x78, 0xF2, 0x59, 0x6C, 0xAF}
	names := [][]byte{
		rawName(t, []attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 6}, printable, "US")},
			[]attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 10}, utf8, "Let's Encrypt")},
			[]attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 3}, utf8, "R3")}),
		rawName(t, []attrTypeValue{atv(asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, ia5, "example")},
			[]attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 11}, utf8, "Ops"), atv(asn1.ObjectIdentifier{2, 5, 4, 11}, utf8, "Dev")},
			[]attrTypeValue{atv(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, ia5, "ca@example.org")},
			[]attrTypeValue{atv(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, utf8, "odd/=value")}),
		rawName(t, []attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 3}, utf8, "Zürich CA \x01 a+b\\c")},
			[]attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 3}, 30, "\x00A\x00/")}),
	}
	serials := []*big.Int{big.NewInt(1), new(big.Int).SetBytes([]byte{0x80, 0, 1}), new(big.Int).SetBytes([]byte{0x0B, 0x38, 0x1A, 0xC2, 0x88, 0x08, 0x9D, 0x2F})}
	for i, n := range names {
		certs = append(certs, selfIssued(t, n, serials[i], aki))
	}
	for _, c := range certs {
		ci := NewCertInfo([]*x509.Certificate{c})
		if want := strings.TrimPrefix(openssl(t, c, "-issuer", "-nameopt", "compat"), "issuer="); ci.IssuerName != want {
			t.Errorf("issuer-name %q; openssl says %q", ci.IssuerName, want)
		}
		if want := strings.TrimPrefix(openssl(t, c, "-serial"), "serial="); ci.Serial != want {
			t.Errorf("serial %q; openssl says %q", ci.Serial, want)
		}
		fp := strings.TrimPrefix(openssl(t, c, "-fingerprint", "-sha256"), "sha256 Fingerprint=")
		if want := strings.ToLower(strings.ReplaceAll(fp, ":", "")); ci.SHA256 != want {
			t.Errorf("sha256-fingerprint %q; openssl says %q", ci.SHA256, want)
		}
		if len(c.AuthorityKeyId) > 0 {
			ext := openssl(t, c, "-ext", "authorityKeyIdentifier")
			lines := strings.Split(ext, "\n")
			keyid, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(lines[len(lines)-1]), "keyid:"), ":", ""))
			must(t, err)
			ser, err := hex.DecodeString(strings.TrimPrefix(openssl(t, c, "-serial"), "serial="))
			must(t, err)
			for len(ser) > 1 && ser[0] == 0 {
				ser = ser[1:]
			}
			if want := base64.RawURLEncoding.EncodeToString(keyid) + "." + base64.RawURLEncoding.EncodeToString(ser); ci.ARICertID != want {
				t.Errorf("ari-cert-id %q; from openssl %q", ci.ARICertID, want)
			}
		}
	}
}

// FuzzOnelineName: any DER never panics and gives printable ASCII only.
func FuzzOnelineName(f *testing.F) {
	for _, file := range []string{"good.test.pem", "multi.test.ec.pem", "eab.test.pem"} {
		if b, err := os.ReadFile(filepath.Join(fixtures, "certs", file)); err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
					f.Add(c.RawIssuer)
					f.Add(c.RawSubject)
				}
			}
		}
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		s := OnelineName(der)
		for i := 0; i < len(s); i++ {
			if s[i] < ' ' || s[i] > '~' {
				t.Fatalf("OnelineName(%x) = %q has byte %#x", der, s, s[i])
			}
		}
	})
}

func TestCertIDsForHighBitSerials(t *testing.T) {
	aki := []byte{1, 2, 3}
	c := selfIssued(t, rawName(t, []attrTypeValue{atv(asn1.ObjectIdentifier{2, 5, 4, 3}, 12, "x")}), new(big.Int).SetBytes([]byte{0x80, 0, 1}), aki)
	ci := NewCertInfo([]*x509.Certificate{c})
	// mod_md (md_cert_get_ari_cert_id): the serial's minimal unsigned bytes.
	if want := "AQID.gAAB"; ci.ARICertID != want {
		t.Errorf("ari-cert-id %q; want %q", ci.ARICertID, want)
	}
	// RFC 9773 (md-order's ari-<md>.json keys): the DER INTEGER content.
	if want := "AQID.AIAAAQ"; rfcCertID(ci) != want {
		t.Errorf("RFC 9773 id %q; want %q", rfcCertID(ci), want)
	}
}

// FuzzParseChain: a chain parses as store.ParseChainPEM parses it, the
// first time and when its intermediates' text is remembered
// (chainTails).
func FuzzParseChain(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "certs", "*.pem"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
			f.Add(append(b, " \n"...))
			f.Add(append(b, "x"...))
			f.Add(append(append([]byte(nil), b...), b...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := store.ParseChainPEM(data)
		for i := range 2 {
			got, err := parseChain(data)
			if (err == nil) != (werr == nil) || len(got) != len(want) || err == nil && !bytes.Equal(got[0].Raw, want[0].Raw) {
				t.Fatalf("%q (%d): %d certificates, %v; store: %d, %v", data, i, len(got), err, len(want), werr)
			}
		}
	})
}

// FuzzDecodePEMCert: what decodePEMCert decodes, pem.Decode decodes the
// same, with the same rest.
func FuzzDecodePEMCert(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "certs", "*.pem"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----",
		"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE----- \nx", "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		der, rest, ok := decodePEMCert(data)
		if !ok {
			return
		}
		b, wrest := pem.Decode(data)
		if b == nil || b.Type != "CERTIFICATE" || len(b.Headers) != 0 || !bytes.Equal(b.Bytes, der) || !bytes.Equal(rest, wrest) {
			t.Fatalf("%q: %x, rest %q; pem.Decode %+v, rest %q", data, der, rest, b, wrest)
		}
	})
}
