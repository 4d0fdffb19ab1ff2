package registry

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/tomlconf"
)

// selfSigned makes a certificate for names, with must-staple if asked.
func selfSigned(t *testing.T, names []string, staple bool) []byte {
	t.Helper()
	s := certtest.Spec{Names: names, NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	if staple {
		s.Extensions = []pkix.Extension{{Id: renew.OIDTLSFeature, Value: renew.MustStapleValue}}
	}
	return certtest.New(t, s).PEM()
}

// otherKeyPEM is a private key that belongs to no certificate.
func otherKeyPEM(t *testing.T) []byte {
	return certtest.New(t, certtest.Spec{}).KeyPEM(t)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		name      string
		conf      string
		files     map[string][]byte // under domains/a.example/
		state     int
		descr     string
		staticPEM []byte
	}{
		{"missing", "", nil, md.StateIncomplete, "certificate(rsa) is missing", nil},
		{"complete", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false)}, md.StateComplete, "", nil},
		{"wildcard SAN covers", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "*.a.example"}, false)}, md.StateComplete, "", nil},
		{"not covering", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example"}, false)}, md.StateIncomplete, "certificate(rsa) does not cover all domains.", nil},
		{"must-staple wanted", "must-staple = true\n", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false)}, md.StateIncomplete, "'must-staple' is requested, but certificate(rsa) has it not enabled.", nil},
		{"must-staple unwanted", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, true)}, md.StateIncomplete, "'must-staple' is not requested, but certificate(rsa) has it enabled.", nil},
		{"must-staple both", "must-staple = true\n", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, true)}, md.StateComplete, "", nil},
		{"second key missing", "private-keys = [\"RSA\", \"secp384r1\"]\n", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false)}, md.StateIncomplete, "certificate(secp384r1) is missing", nil},
		{"unreadable", "", map[string][]byte{"pubcert.pem": []byte("garbage")}, md.StateError, "error initializing", nil},
		{"key of another certificate", "", map[string][]byte{"pubcert.pem": selfSigned(t, []string{"a.example", "www.a.example"}, false), "privkey.pem": otherKeyPEM(t)}, md.StateIncomplete, "certificate(rsa) does not match its private key.", nil},
		{"static file", "certificate-file = \"cert.pem\"\ncertificate-key-file = \"key.pem\"\n", nil, md.StateComplete, "", selfSigned(t, []string{"a.example", "www.a.example"}, false)},
		{"static file missing", "certificate-file = \"nope.pem\"\ncertificate-key-file = \"key.pem\"\n", nil, md.StateIncomplete, "certificate(rsa) is missing", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			for f, data := range tc.files {
				writeFile(t, filepath.Join(dir, "domains", "a.example", f), data)
			}
			confDir := t.TempDir()
			if tc.staticPEM != nil {
				writeFile(t, filepath.Join(confDir, "cert.pem"), tc.staticPEM)
			}
			conf := "[[domain]]\ndomains = [\"a.example\", \"www.a.example\"]\nwebroot = \"/srv\"\n" + tc.conf
			path := filepath.Join(confDir, "md.toml")
			writeFile(t, path, []byte(conf))
			pc, err := tomlconf.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sync(t, st, pc.Records, Options{})
			r := pc.Records[0]
			if r.State != tc.state || r.StateDescr != tc.descr {
				t.Errorf("state = %d %q; want %d %q", r.State, r.StateDescr, tc.state, tc.descr)
			}
		})
	}
}

// TestStateSpecialStaticFiles: a static certificate file that is a device,
// a FIFO or huge gives state error at once; before, a FIFO blocked the sync.
func TestStateSpecialStaticFiles(t *testing.T) {
	for _, sp := range fsreadtest.Specials(t) {
		t.Run(sp.Name, func(t *testing.T) {
			st, _ := openStore(t)
			recs := parseTOML(t, "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\n"+
				"certificate-file = \""+sp.Path+"\"\ncertificate-key-file = \""+sp.Path+"\"\n")
			var res *Result
			var err error
			fsreadtest.NoHang(t, func() { res, err = Sync(context.Background(), st, recs, Options{}) })
			if err != nil {
				t.Fatal(err)
			}
			if r := recs[0]; r.State != md.StateError || r.StateDescr != "error initializing" {
				t.Errorf("state = %d %q; want %d (mod_md's error initializing)", r.State, r.StateDescr, md.StateError)
			}
			// md-parse prints why
			want := "md[a.example]: certificate unreadable (state error): MDCertificateFile " + sp.Want
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], want) {
				t.Errorf("warnings = %q; want one containing %q", res.Warnings, want)
			}
		})
	}
}
