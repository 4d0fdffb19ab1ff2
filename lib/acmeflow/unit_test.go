package acmeflow

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"golang.org/x/crypto/acme"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testdata = "../../testdata/order"

func TestSignJWSVerifies(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
		hash crypto.Hash
	}{{"rsa", rsaKey, "RS256", crypto.SHA256}, {"p256", ec256, "ES256", crypto.SHA256}, {"p384", ec384, "ES384", crypto.SHA384}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, payload := range [][]byte{nil, []byte(`{"identifiers":[{"type":"dns","value":"a.test"}],"replaces":"x.y"}`)} {
				out, err := signJWS(tc.key, "https://ca/acct/1", "nonce-1", "https://ca/new-order", payload)
				if err != nil {
					t.Fatal(err)
				}
				var jws struct{ Protected, Payload, Signature string }
				if err := json.Unmarshal(out, &jws); err != nil {
					t.Fatal(err)
				}
				hb, _ := base64.RawURLEncoding.DecodeString(jws.Protected)
				var hdr map[string]any
				json.Unmarshal(hb, &hdr)
				if hdr["alg"] != tc.alg || hdr["kid"] != "https://ca/acct/1" || hdr["nonce"] != "nonce-1" || hdr["url"] != "https://ca/new-order" || hdr["jwk"] != nil {
					t.Errorf("header %v", hdr)
				}
				if payload == nil && jws.Payload != "" {
					t.Errorf("POST-as-GET payload %q; want empty", jws.Payload)
				}
				pl, _ := base64.RawURLEncoding.DecodeString(jws.Payload)
				if !bytes.Equal(pl, payload) {
					t.Errorf("payload %q", pl)
				}
				sig, _ := base64.RawURLEncoding.DecodeString(jws.Signature)
				h := tc.hash.New()
				h.Write([]byte(jws.Protected + "." + jws.Payload))
				digest := h.Sum(nil)
				switch k := tc.key.Public().(type) {
				case *rsa.PublicKey:
					if err := rsa.VerifyPKCS1v15(k, tc.hash, digest, sig); err != nil {
						t.Errorf("RS256 signature does not verify: %v", err)
					}
				case *ecdsa.PublicKey:
					n := len(sig) / 2
					r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
					if n != (k.Curve.Params().BitSize+7)/8 || !ecdsa.Verify(k, digest, r, s) {
						t.Errorf("%s signature (%d bytes) does not verify", tc.alg, len(sig))
					}
				}
			}
		})
	}
}

func TestLinkUp(t *testing.T) {
	tests := []struct {
		links []string
		want  string
	}{
		{nil, ""},
		{[]string{`<https://ca/issuer/1>;rel="up"`}, "https://ca/issuer/1"},
		{[]string{`<https://ca/dir>;rel="index", <https://ca/issuer/2>; rel="up"`}, "https://ca/issuer/2"},
		{[]string{`<https://ca/dir>;rel="index"`, `<https://ca/alt/1>;rel="alternate"`}, ""},
		{[]string{`<https://ca/x>;rel=up`}, "https://ca/x"},
		{[]string{`garbage, <broken;rel="up"`}, ""},
	}
	for _, tc := range tests {
		h := http.Header{}
		for _, l := range tc.links {
			h.Add("Link", l)
		}
		if got := linkUp(h); got != tc.want {
			t.Errorf("linkUp(%q) = %q; want %q", tc.links, got, tc.want)
		}
	}
}

// RFC 9773 §4.1's example.
func TestCertIDRFCExample(t *testing.T) {
	aki := []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4}
	c := &x509.Certificate{AuthorityKeyId: aki, SerialNumber: big.NewInt(0x87654321)}
	got, err := CertID(c)
	if err != nil || got != "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" {
		t.Errorf("CertID = %q, %v; want aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", got, err)
	}
	c.SerialNumber = big.NewInt(0x12345)
	if got, _ := CertID(c); !strings.HasSuffix(got, ".ASNF") {
		t.Errorf("serial without high bit: %q", got)
	}
	if _, err := CertID(&x509.Certificate{SerialNumber: big.NewInt(1)}); err == nil {
		t.Error("no AKI: want an error")
	}
}

func TestParseOrder(t *testing.T) {
	tests := []struct {
		file, status, cert string
		authz              int
		wantErr            bool
	}{
		{"order-pebble.json", "pending", "", 2, false},
		{"order-valid.json", "valid", "https://ca/cert/1", 0, false},
		{"order-invalid.json", "invalid", "", 1, false},
		{"problem-malformed.json", "", "", 0, true},
	}
	for _, tc := range tests {
		data, err := os.ReadFile(filepath.Join(testdata, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		o, err := parseOrder(data)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s: err %v", tc.file, err)
		}
		if err != nil {
			continue
		}
		if o.Status != tc.status || o.CertURL != tc.cert || len(o.AuthzURLs) != tc.authz {
			t.Errorf("%s: %+v", tc.file, o)
		}
		if tc.status == "invalid" {
			var ae *acme.Error
			if !errors.As(orderError(o), &ae) || ae.ProblemType != "urn:ietf:params:acme:error:unauthorized" {
				t.Errorf("order error %v", orderError(o))
			}
		}
	}
}

func TestProblemAndStageError(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	data, _ := os.ReadFile(filepath.Join(testdata, "problem-malformed.json"))
	req, _ := http.NewRequest("POST", "https://ca/new-order", nil)
	res := &http.Response{StatusCode: 400, Status: "400 Bad Request", Header: http.Header{}, Request: req}
	se := StageError(problemFromResponse(res, data), now)
	if se.Problem != "urn:ietf:params:acme:error:malformed" || se.Detail != "Error creating new order" || len(se.Subproblems) != 1 ||
		se.Subproblems[0].Identifier.Value != "blocked-domain.example" || se.Stage != "order" {
		t.Errorf("%+v", se)
	}
	data, _ = os.ReadFile(filepath.Join(testdata, "problem-ratelimited.json"))
	res = &http.Response{StatusCode: 429, Status: "429", Header: http.Header{"Retry-After": {"120"}}, Request: req}
	se = StageError(problemFromResponse(res, data), now)
	if se.Problem != "urn:ietf:params:acme:error:rateLimited" || !se.RetryAfter.Equal(now.Add(2*time.Minute)) {
		t.Errorf("%+v", se)
	}
	// Not a problem document: the status and body say what happened.
	res = &http.Response{StatusCode: 502, Status: "502 Bad Gateway", Header: http.Header{}, Request: req}
	se = StageError(problemFromResponse(res, []byte("upstream down")), now)
	if se.Problem != "" || !strings.Contains(se.Detail, "502 Bad Gateway") || !strings.Contains(se.Detail, "upstream down") {
		t.Errorf("%+v", se)
	}
	se = StageError(&Problem{Type: ProblemEABInvalid, Detail: "bad"}, now)
	if se.Problem != ProblemEABInvalid {
		t.Errorf("%+v", se)
	}
	se = StageError(&md.StageError{Problem: "challenge-mismatch", Detail: "none"}, now)
	if se.Problem != "challenge-mismatch" || se.Stage != "order" {
		t.Errorf("%+v", se)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{"120": 2 * time.Minute, "Sat, 28 Nov 2026 12:01:00 GMT": time.Minute, "soon": 0, "": 0} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("%q: %v; want %v", v, got, want)
		}
	}
	policy := retryPolicy(func() time.Time { return now })
	res := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"3600"}}}
	if d := policy(1, nil, res); d != 0 {
		t.Errorf("long Retry-After is waited for: %v", d)
	}
	res = &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"1"}}}
	if d := policy(1, nil, res); d != time.Second {
		t.Errorf("short Retry-After: %v", d)
	}
	// An HTTP date is read against the runner's clock, not the wall clock.
	res = &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"Sat, 28 Nov 2026 12:00:02 GMT"}}}
	if d := policy(1, nil, res); d != 2*time.Second {
		t.Errorf("dated Retry-After against the injected clock: %v", d)
	}
	if d := policy(10, nil, &http.Response{StatusCode: 400, Header: http.Header{}}); d != 0 {
		t.Errorf("retries forever: %v", d)
	}
}

func cert(t *testing.T, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, names []string, staple bool) *x509.Certificate {
	t.Helper()
	spec := certtest.Spec{Names: names, Key: key, Serial: big.NewInt(time.Now().UnixNano()), CA: parent == nil}
	if staple {
		spec.Extensions = []pkix.Extension{{Id: renew.OIDTLSFeature, Value: renew.MustStapleValue}}
	}
	if parent != nil {
		spec.Issuer = &certtest.Cert{Cert: parent, Key: parentKey}
	}
	return certtest.New(t, spec).Cert
}

func TestVerify(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := cert(t, caKey, nil, nil, []string{"ca.test"}, false)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other := cert(t, otherKey, nil, nil, []string{"other-ca.test"}, false)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := cert(t, key, ca, caKey, []string{"a.test", "*.a.test"}, false)
	stapled := cert(t, key, ca, caKey, []string{"a.test"}, true)
	// A TLS Feature that lists status_request_v2 only: must-staple for
	// mod_md (md_cert_must_staple tests presence), so for md-order too.
	v2 := certtest.New(t, certtest.Spec{Names: []string{"a.test"}, Serial: big.NewInt(7), Key: key, Issuer: &certtest.Cert{Cert: ca, Key: caKey},
		Extensions: []pkix.Extension{{Id: renew.OIDTLSFeature, Value: []byte{0x30, 0x03, 0x02, 0x01, 0x11}}}}).Cert
	now := time.Now()
	tests := []struct {
		name    string
		chain   []*x509.Certificate
		key     crypto.Signer
		domains []string
		staple  bool
		problem string
	}{
		{"good", []*x509.Certificate{leaf, ca}, key, []string{"a.test", "www.a.test"}, false, ""},
		{"leaf only (mod_md get_chain refuses it)", []*x509.Certificate{leaf}, key, []string{"a.test"}, false, "urn:org:mdtools:cert-chain-missing"},
		{"other key", []*x509.Certificate{leaf, ca}, otherKey, []string{"a.test"}, false, "urn:org:mdtools:cert-key-mismatch"},
		{"names", []*x509.Certificate{leaf, ca}, key, []string{"a.test", "b.test"}, false, "urn:org:mdtools:cert-names-mismatch"},
		{"two labels under wildcard", []*x509.Certificate{leaf, ca}, key, []string{"x.y.a.test"}, false, "urn:org:mdtools:cert-names-mismatch"},
		{"staple missing", []*x509.Certificate{leaf, ca}, key, []string{"a.test"}, true, "urn:org:mdtools:cert-must-staple-missing"},
		{"staple present", []*x509.Certificate{stapled, ca}, key, []string{"a.test"}, true, ""},
		{"tls feature without status_request", []*x509.Certificate{v2, ca}, key, []string{"a.test"}, true, ""},
		{"wrong intermediate", []*x509.Certificate{leaf, other}, key, []string{"a.test"}, false, "urn:org:mdtools:cert-chain-invalid"},
	}
	for _, tc := range tests {
		err := Verify(tc.chain, tc.key, tc.domains, tc.staple, now)
		var p *Problem
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.problem != "" && (!errors.As(err, &p) || p.Type != tc.problem):
			t.Errorf("%s: %v; want %s", tc.name, err, tc.problem)
		}
	}
	if err := Verify([]*x509.Certificate{leaf, ca}, key, []string{"a.test"}, false, now.Add(48*time.Hour)); err == nil {
		t.Error("expired: want an error")
	}
}

func TestCSR(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	long := strings.Repeat("a", 60) + ".test"
	for _, tc := range []struct {
		ids    []string
		cn     string
		staple bool
	}{{[]string{"a.test", "*.a.test"}, "a.test", false}, {[]string{long, "b.test"}, "", true}} {
		der, err := CSR(tc.ids, key, tc.staple)
		if err != nil {
			t.Fatal(err)
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil || csr.CheckSignature() != nil {
			t.Fatal(err)
		}
		if csr.Subject.CommonName != tc.cn || strings.Join(csr.DNSNames, " ") != strings.Join(tc.ids, " ") {
			t.Errorf("CN %q SANs %v", csr.Subject.CommonName, csr.DNSNames)
		}
		has := false
		for _, e := range csr.Extensions {
			has = has || e.Id.Equal(renew.OIDTLSFeature) && bytes.Equal(e.Value, renew.MustStapleValue)
		}
		if has != tc.staple {
			t.Errorf("must-staple extension %v; want %v", has, tc.staple)
		}
	}
}

func TestAccountRules(t *testing.T) {
	e1 := &md.EAB{KID: "k1", HMAC: "h1"}
	for _, tc := range []struct {
		have, want *md.EAB
		ok         bool
	}{{nil, nil, true}, {e1, nil, false}, {nil, e1, false}, {e1, &md.EAB{KID: "k1", HMAC: "h1"}, true}, {e1, &md.EAB{KID: "k1", HMAC: "h2"}, false}} {
		if got := eabMatches(tc.have, tc.want); got != tc.ok {
			t.Errorf("eabMatches(%v, %v) = %v", tc.have, tc.want, got)
		}
	}
	if _, err := eabKey("!!!not base64!!!"); err == nil {
		t.Error("bad HMAC accepted")
	}
	if k, err := eabKey("MDEyMzQ1Njc4OWFiY2RlZg"); err != nil || string(k) != "0123456789abcdef" {
		t.Errorf("eabKey: %q %v", k, err)
	}
}

func TestPickProfile(t *testing.T) {
	dir := &Directory{Profiles: map[string]string{"default": "", "shortlived": ""}}
	for _, tc := range []struct {
		profile   string
		mandatory bool
		want      string
		err       bool
	}{{"", false, "", false}, {"ShortLived", false, "shortlived", false}, {"nope", false, "", false}, {"nope", true, "", true}} {
		got, err := pickProfile(&md.Record{MD: md.MD{Profile: tc.profile, ProfileMandatory: tc.mandatory}}, dir)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%+v: %q %v", tc, got, err)
		}
	}
}

func TestOrderFileGolden(t *testing.T) {
	of := orderFile{URL: "https://127.0.0.1:14000/my-order/1", Status: "pending", Authorizations: []string{"https://127.0.0.1:14000/authZ/1"},
		ChallengeSetups: []string{"http-01:a.test", "dns-01:b.test 4CPK2cr6z6I5uYv1NAj0p7q2aYjqnQ4UQ3kQZJx2Z0Y"},
		Finalize:        "https://127.0.0.1:14000/finalize-order/1", Spec: "rsa",
		Tasks: []challenge.Task{{Type: "http-01", Domain: "a.test", Token: "tok-aaaaaaaaaaaaaaaaaaaaa", KeyAuth: "tok-aaaaaaaaaaaaaaaaaaaaa.thumb"}}}
	got, err := md.StoreJSON(&of)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(testdata, "order-file.golden.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, _ := os.ReadFile(golden)
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("order.json:\n%s\nwant:\n%s", got, want)
	}
}

func seeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testdata, "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
}

func FuzzParseOrder(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := parseOrder(data)
		if err == nil && (o.Status == "" || o.FinalizeURL == "") {
			t.Errorf("accepted an order without status or finalize: %+v", o)
		}
	})
}

func FuzzProblem(f *testing.F) {
	seeds(f)
	req, _ := http.NewRequest("POST", "https://ca/x", nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := &http.Response{StatusCode: 400, Status: "400", Header: http.Header{"Retry-After": {string(data[:min(len(data), 8)])}}, Request: req}
		se := StageError(problemFromResponse(res, data), time.Now())
		if se.Detail == "" || se.Stage != "order" {
			t.Errorf("empty detail: %+v", se)
		}
	})
}

func FuzzParseCertResponse(f *testing.F) {
	seeds(f)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ct := range []string{"application/pem-certificate-chain", "application/pkix-cert"} {
			certs, err := parsePEMOrDER(data, ct)
			if err == nil && len(certs) == 0 {
				t.Errorf("no error and no certificate")
			}
		}
		h := http.Header{"Link": {string(data)}}
		_ = linkUp(h)
	})
}
