package importer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apacheconf"
	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/store"
)

func b64u(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }

// jwkOf is a private key as certbot writes private_key.json.
func jwkOf(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	var m map[string]string
	switch k := k.(type) {
	case *rsa.PrivateKey:
		m = map[string]string{"kty": "RSA", "n": b64u(k.N), "e": b64u(big.NewInt(int64(k.E))), "d": b64u(k.D),
			"p": b64u(k.Primes[0]), "q": b64u(k.Primes[1])}
	case *ecdsa.PrivateKey:
		b, _ := k.Bytes()
		pub, _ := k.PublicKey.Bytes()
		m = map[string]string{"kty": "EC", "crv": "P-256", "d": base64.RawURLEncoding.EncodeToString(b),
			"x": base64.RawURLEncoding.EncodeToString(pub[1:33]), "y": base64.RawURLEncoding.EncodeToString(pub[33:])}
	}
	data, _ := json.Marshal(m)
	return data
}

func TestParseJWK(t *testing.T) {
	rk, ek := rsaKey(t), ecKey(t)
	tests := []struct {
		name string
		data []byte
		want crypto.Signer
		err  string
	}{
		{"rsa", jwkOf(t, rk), rk, ""},
		{"ec", jwkOf(t, ek), ek, ""},
		{"not json", []byte("{"), nil, "not a JSON web key"},
		{"oct", []byte(`{"kty":"oct","k":"AAAA"}`), nil, `type "oct" is not supported`},
		{"bad base64", []byte(`{"kty":"RSA","n":"!!","e":"AQAB","d":"AQAB","p":"AQAB","q":"AQAB"}`), nil, `field "n"`},
		{"inconsistent rsa", []byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","p":"AQAB","q":"AQAB"}`), nil, "JSON web key"},
		{"ec wrong x", []byte(strings.Replace(string(jwkOf(t, ek)), `"x":"`, `"x":"A`, 1)), nil, "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseJWK(tc.data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v; want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.want.Public()) {
				t.Errorf("got another key")
			}
		})
	}
}

func TestAcmeShConf(t *testing.T) {
	for url, want := range map[string]string{
		"https://acme-v02.api.letsencrypt.org/directory": "acme-v02.api.letsencrypt.org/directory",
		"https://127.0.0.1:14000/dir":                    "127.0.0.1/dir",
		"https://acme.zerossl.com/v2/DV90":               "acme.zerossl.com/v2/DV90",
	} {
		if got := acmeshCADir(url); got != want {
			t.Errorf("acmeshCADir(%s) = %q; want %q", url, got, want)
		}
	}
	p := filepath.Join(t.TempDir(), "a.conf")
	writeFile(t, p, []byte("Le_Domain='a.org'\nLe_ReloadCmd='"+b64conf("nginx -s reload")+"'\n# comment\nLe_Alt='no'\n"), 0o600)
	conf, err := readAcmeShConf(p)
	if err != nil || conf["Le_Domain"] != "a.org" || conf["Le_ReloadCmd"] != "nginx -s reload" || conf["Le_Alt"] != "no" {
		t.Errorf("readAcmeShConf: %v %q", err, conf)
	}
}

// certbotLineage lays out one certbot lineage as certbot 2 writes it:
// archive/<l>/{fullchain1,privkey1}.pem, live/<l>/ links into it, and
// renewal/<l>.conf with the given [renewalparams] lines.
func certbotLineage(t *testing.T, dir, lineage string, chain []byte, key crypto.Signer, params ...string) {
	t.Helper()
	arch, live := filepath.Join(dir, "archive", lineage), filepath.Join(dir, "live", lineage)
	writeFile(t, filepath.Join(arch, "fullchain1.pem"), chain, 0o644)
	writeFile(t, filepath.Join(arch, "privkey1.pem"), keyPEMOf(t, key), 0o600)
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"fullchain", "privkey"} {
		if err := os.Symlink(filepath.Join("..", "..", "archive", lineage, f+"1.pem"), filepath.Join(live, f+".pem")); err != nil {
			t.Fatal(err)
		}
	}
	conf := "version = 2.1.0\nfullchain = " + filepath.Join(live, "fullchain.pem") + "\n\n[renewalparams]\n" + strings.Join(params, "\n") + "\n"
	writeFile(t, filepath.Join(dir, "renewal", lineage+".conf"), []byte(conf), 0o644)
}

func certbotAccount(t *testing.T, dir, server, id, url string, key crypto.Signer) {
	t.Helper()
	a := filepath.Join(dir, "accounts", strings.TrimPrefix(server, "https://"), id)
	writeFile(t, filepath.Join(a, "regr.json"), []byte(`{"body": {}, "uri": "`+url+`"}`), 0o644)
	writeFile(t, filepath.Join(a, "private_key.json"), jwkOf(t, key), 0o400)
	writeFile(t, filepath.Join(a, "meta.json"), []byte(`{"creation_host": "localhost"}`), 0o644)
}

// TestCertbotLayouts covers what the real certbot run does not: a DNS
// plugin (its credentials file is named, never read), hooks, an older
// lineage whose names overlap a newer one, a key that does not fit its
// certificate, a store that holds another certificate for the MD, a dry
// run, an output file that exists, and the Apache form of the md.toml.
func TestCertbotLayouts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "letsencrypt")
	server := "https://acme.test/directory"
	certbotAccount(t, dir, server, "abc", "https://acme.test/acct/1", rsaKey(t))
	creds := filepath.Join(dir, "cf.ini")
	writeFile(t, creds, []byte("dns_cloudflare_api_token = SECRET-TOKEN\n"), 0o600)
	k1, k2, k3 := ecKey(t), rsaKey(t), ecKey(t)
	// a.test is the newer certificate by a minute: both made at Now, they
	// were equal (seconds) or not as the clock's second turned between them
	newer := time.Now().Add(-time.Hour).Truncate(time.Second)
	certbotLineage(t, dir, "a.test", certtest.New(t, certtest.Spec{Key: k1, Names: []string{"a.test", "www.a.test"}, NotBefore: newer}).PEM(), k1,
		"account = abc", "server = "+server, "authenticator = dns-cloudflare", "dns_cloudflare_credentials = "+creds,
		"pre_hook = systemctl stop nginx", "post_hook = systemctl start nginx")
	certbotLineage(t, dir, "b.test", certtest.New(t, certtest.Spec{Key: k2, Names: []string{"www.a.test", "b.test"}, NotBefore: newer.Add(-time.Minute)}).PEM(), k2,
		"account = abc", "server = "+server, "authenticator = webroot", "webroot_path = /var/www/b,")
	certbotLineage(t, dir, "c.test", certtest.New(t, certtest.Spec{Key: k3, Names: []string{"c.test"}}).PEM(), ecKey(t),
		"account = abc", "server = "+server, "authenticator = standalone")
	ctx := context.Background()
	stDir := filepath.Join(t.TempDir(), "store")

	// a dry run on a store that does not exist writes nothing at all
	dry, err := Import(ctx, nil, Options{Client: Certbot, Dir: dir, StoreDir: stDir, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stDir); !errors.Is(err, os.ErrNotExist) || len(dry.Records) != 1 || dry.Records[0].CA.Account != "ACME-acme.test-0000" {
		t.Fatalf("dry run: store %v, records %+v", err, dry.Records)
	}

	st, err := store.Open(ctx, stDir)
	if err != nil {
		t.Fatal(err)
	}
	// another certificate for a.test in the store: never replaced
	other := ecKey(t)
	_ = st.Write(ctx, store.GroupDomains, "a.test", "pubcert.secp256r1.pem", certtest.New(t, certtest.Spec{Key: other, Names: []string{"a.test"}}).PEM())
	res, err := Import(ctx, st, Options{Client: Certbot, Dir: dir, StoreDir: stDir})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, c := range res.Report.Certificates {
		status[c.Source] = c.Status + ": " + c.Detail
	}
	for src, want := range map[string]string{
		"live/a.test": "skipped: domains/a.test has other certificates",
		"live/b.test": "skipped: www.a.test is in the newer certificate",
		"live/c.test": "skipped: ",
	} {
		if !strings.HasPrefix(status[src], want) {
			t.Errorf("%s: %q; want %q...", src, status[src], want)
		}
	}
	if !strings.Contains(status["live/c.test"], "is not the key of the certificate") || !res.Failed || len(res.Records) != 0 {
		t.Errorf("c.test %q, failed %v, records %d; want a key mismatch, failed, no records", status["live/c.test"], res.Failed, len(res.Records))
	}
	if s, _ := st.Read(ctx, store.GroupDomains, "a.test", "pubcert.secp256r1.pem"); !strings.Contains(string(s), "CERTIFICATE") || st.Exists(ctx, store.GroupDomains, "a.test", "privkey.secp256r1.pem") {
		t.Errorf("the store's own a.test certificate was touched")
	}

	// the dry run's md.toml and Apache lines: hooks and the plugin are
	// reported with what to do instead; the credentials stay unread
	toml, apache := string(dry.TOML), string(dry.Apache)
	rep, _ := json.Marshal(dry.Report)
	for _, want := range []string{"certbot dns-cloudflare plugin", "credentials file " + creds, "certbot pre_hook", "certbot post_hook", "challenge-dns01"} {
		if !strings.Contains(toml, want) || !strings.Contains(string(rep), want) {
			t.Errorf("md.toml or report lacks %q:\n%s\n%s", want, toml, rep)
		}
	}
	if strings.Contains(toml+apache+string(rep), "SECRET-TOKEN") {
		t.Errorf("the DNS credentials leaked into the output")
	}
	apacheFormMatches(t, dry)

	// an output file that exists is an input error, before anything
	if _, err := Import(ctx, st, Options{Client: Certbot, Dir: dir, StoreDir: stDir, TOMLPath: creds}); !errors.As(err, new(*InputError)) {
		t.Errorf("existing --toml: %v; want an InputError", err)
	}
	if _, err := Import(ctx, st, Options{Client: Lego, Dir: dir, StoreDir: stDir}); !errors.As(err, new(*InputError)) {
		t.Errorf("certbot's dir as lego's: %v; want an InputError", err)
	}
}

// apacheFormMatches reads the --apache form back with md-parse's Apache
// reader: the same MDs as the md.toml form.
func apacheFormMatches(t *testing.T, dry *Result) {
	t.Helper()
	apache := string(dry.Apache)
	conf := filepath.Join(t.TempDir(), "md.conf")
	writeFile(t, conf, dry.Apache, 0o644)
	pc, err := apacheconf.Load(conf, apacheconf.Options{})
	if err != nil || len(pc.Records) != 1 {
		t.Fatalf("the Apache lines do not read back: %v\n%s", err, apache)
	}
	a, tr := pc.Records[0], dry.Records[0]
	if a.Name != tr.Name || strings.Join(a.Domains, " ") != strings.Join(tr.Domains, " ") || a.PrivKey[0] != tr.PrivKey[0] ||
		strings.Join(a.CA.URLs, " ") != strings.Join(tr.CA.URLs, " ") || strings.Join(a.CA.Challenges, " ") != strings.Join(tr.CA.Challenges, " ") {
		t.Errorf("Apache form %+v %+v; md.toml form %+v %+v", a.MD, a.CA, tr.MD, tr.CA)
	}

}
