package acmeflow

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
)

func TestLinkRels(t *testing.T) {
	for _, tc := range []struct {
		links []string
		rel   string
		want  []string
	}{
		{nil, "alternate", nil},
		{[]string{`<https://ca/cert/1/alternate/1>;rel="alternate"`, `<https://ca/cert/1/alternate/2>;rel="alternate"`}, "alternate",
			[]string{"https://ca/cert/1/alternate/1", "https://ca/cert/1/alternate/2"}},
		{[]string{`<https://ca/dir>;rel="index", <https://ca/a1>; rel=alternate, <https://ca/up>;rel="up"`}, "alternate", []string{"https://ca/a1"}},
		{[]string{`<https://ca/dir>;rel="index", <https://ca/a1>; rel=alternate, <https://ca/up>;rel="up"`}, "up", []string{"https://ca/up"}},
		{[]string{`<https://ca/a,b>;title="x, y";rel="alternate"`}, "alternate", []string{"https://ca/a,b"}},
		{[]string{`<https://ca/x>;rel="up alternate"`}, "alternate", []string{"https://ca/x"}},
		{[]string{`<https://ca/x>;REL="Alternate"`}, "alternate", []string{"https://ca/x"}},
		{[]string{`<https://ca/x>;rel="alternates"`}, "alternate", nil},
		{[]string{`garbage, <https://ca/a2>;rel="alternate"`}, "alternate", []string{"https://ca/a2"}},
		{[]string{`<broken;rel="alternate"`}, "alternate", nil},
	} {
		h := http.Header{}
		for _, l := range tc.links {
			h.Add("Link", l)
		}
		if got := linkRels(h, tc.rel); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("linkRels(%q, %q) = %q; want %q", tc.links, tc.rel, got, tc.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	const cert = "https://ca.example:14000/certZ/abc"
	for _, tc := range []struct {
		links         []string
		keep, skipped []string
	}{
		{nil, nil, nil},
		{[]string{"https://ca.example:14000/certZ/abc/alternate/1", "/certZ/abc/alternate/2", "alternate/3"},
			[]string{"https://ca.example:14000/certZ/abc/alternate/1", "https://ca.example:14000/certZ/abc/alternate/2", "https://ca.example:14000/certZ/alternate/3"}, nil},
		{[]string{"https://other.example/x", "http://ca.example:14000/certZ/abc/alternate/1", "https://ca.example/certZ/abc/alternate/1"},
			nil, []string{"https://other.example/x", "http://ca.example:14000/certZ/abc/alternate/1", "https://ca.example/certZ/abc/alternate/1"}},
		{[]string{cert, "/certZ/abc/alternate/1", "https://ca.example:14000/certZ/abc/alternate/1"},
			[]string{"https://ca.example:14000/certZ/abc/alternate/1"}, nil},
	} {
		keep, skipped := sameOrigin(cert, tc.links)
		if !reflect.DeepEqual(keep, tc.keep) || !reflect.DeepEqual(skipped, tc.skipped) {
			t.Errorf("sameOrigin(%q) = %q, %q; want %q, %q", tc.links, keep, skipped, tc.keep, tc.skipped)
		}
	}
}

func TestTopIssuer(t *testing.T) {
	c := func(issuer string) *x509.Certificate { return &x509.Certificate{Issuer: pkix.Name{CommonName: issuer}} }
	for _, tc := range []struct {
		chain []*x509.Certificate
		want  string
	}{
		{nil, ""},
		{[]*x509.Certificate{c("Leaf Issuer")}, "Leaf Issuer"},
		{[]*x509.Certificate{c("R3"), c("ISRG Root X1")}, "ISRG Root X1"},
		{[]*x509.Certificate{c("R3"), c("ISRG Root X1"), c("DST Root CA X3")}, "DST Root CA X3"},
	} {
		if got := topIssuer(tc.chain); got != tc.want {
			t.Errorf("topIssuer(%d certs) = %q; want %q", len(tc.chain), got, tc.want)
		}
	}
}

// TestAltMismatch: an alternate chain stands in for the default one only
// with the same certificate, each certificate signed by the next.
func TestAltMismatch(t *testing.T) {
	rootA := certtest.New(t, certtest.Spec{CA: true, Names: []string{"Root A"}})
	rootB := certtest.New(t, certtest.Spec{CA: true, Names: []string{"Root B"}})
	key := certtest.NewKey(t)
	interA := certtest.New(t, certtest.Spec{CA: true, Names: []string{"Inter"}, Key: key, Issuer: rootA})
	interB := certtest.New(t, certtest.Spec{CA: true, Names: []string{"Inter"}, Key: key, Issuer: rootB})
	otherInter := certtest.New(t, certtest.Spec{CA: true, Names: []string{"Inter"}, Issuer: rootB})
	leaf := certtest.New(t, certtest.Spec{Names: []string{"a.test"}, Issuer: interA})
	otherLeaf := certtest.New(t, certtest.Spec{Names: []string{"a.test"}, Issuer: interA})
	for _, tc := range []struct {
		name string
		alt  []*certtest.Cert
		want string // "" or a part of the reason
	}{
		{"cross-signed", []*certtest.Cert{leaf, interB}, ""},
		{"with root", []*certtest.Cert{leaf, interB, rootB}, ""},
		{"leaf only", []*certtest.Cert{leaf}, ""},
		{"another certificate", []*certtest.Cert{otherLeaf, interB}, "another certificate"},
		{"wrong intermediate", []*certtest.Cert{leaf, otherInter}, "certificate 1"},
		{"wrong root", []*certtest.Cert{leaf, interB, rootA}, "certificate 2"},
	} {
		var alt []*x509.Certificate
		for _, c := range tc.alt {
			alt = append(alt, c.Cert)
		}
		got := altMismatch(leaf.Cert, alt)
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: altMismatch = %q; want %q", tc.name, got, tc.want)
		}
	}
}
