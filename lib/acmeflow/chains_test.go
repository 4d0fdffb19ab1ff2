package acmeflow

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"reflect"
	"testing"
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
