package event

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

func TestPathEnv(t *testing.T) {
	rsaSpec := md.KeySpec{Type: md.KeyRSA, Bits: 2048}
	ec := md.KeySpec{Type: md.KeyEC, Curve: "secp256r1"}
	tests := []struct {
		name  string
		store string
		m     *md.MD
		want  []string
	}{
		{"no MD", "/s", nil, []string{"MD_EVENT=installed", "MD_NAME=a.org"}},
		{"two specs", "/s", &md.MD{Name: "a.org", Domains: []string{"a.org", "www.a.org"}, PrivKey: md.KeySpecs{rsaSpec, ec}}, []string{
			"MD_EVENT=installed", "MD_NAME=a.org", "MD_DOMAINS=a.org www.a.org", "MD_KEY_SPECS=rsa secp256r1", "MD_STORE=/s",
			"MD_CERT_FILE=/s/domains/a.org/pubcert.pem", "MD_KEY_FILE=/s/domains/a.org/privkey.pem",
			"MD_CERT_FILE_RSA=/s/domains/a.org/pubcert.pem", "MD_KEY_FILE_RSA=/s/domains/a.org/privkey.pem",
			"MD_CERT_FILE_SECP256R1=/s/domains/a.org/pubcert.secp256r1.pem", "MD_KEY_FILE_SECP256R1=/s/domains/a.org/privkey.secp256r1.pem"}},
		{"static files", "/s", &md.MD{Name: "a.org", Domains: []string{"a.org"}, CertFiles: []string{"/etc/c.pem"}, PKeyFiles: []string{"/etc/k.pem"}}, []string{
			"MD_EVENT=installed", "MD_NAME=a.org", "MD_DOMAINS=a.org", "MD_KEY_SPECS=rsa", "MD_STORE=/s",
			"MD_CERT_FILE=/etc/c.pem", "MD_KEY_FILE=/etc/k.pem", "MD_CERT_FILE_RSA=/etc/c.pem", "MD_KEY_FILE_RSA=/etc/k.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PathEnv(tc.store, tc.m)(Installed, "a.org")
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestEventCommandGetsPaths: the variables reach a real MDMessageCmd,
// beside the inherited environment.
func TestEventCommandGetsPaths(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env.out")
	sh := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\necho \"$1 $2 $MD_CERT_FILE $MD_KEY_FILE $MD_EVENT ${PATH:+path}\" > "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := New(&md.Settings{MessageCmd: []string{sh}})
	n.Env = PathEnv("/store", &md.MD{Name: "a.org", Domains: []string{"a.org"}})
	if err := n.Raise(t.Context(), nil, Installed, "a.org", time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if want := "installed a.org /store/domains/a.org/pubcert.pem /store/domains/a.org/privkey.pem installed path\n"; string(got) != want {
		t.Errorf("hook saw %q; want %q", got, want)
	}
}
