package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/importer"
)

// acmeshHome writes a minimal acme.sh home: one ECDSA certificate in
// a.test_ecc/ (webroot mode) and its CA's account.
func acmeshHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), ".acme.sh")
	write := func(rel, data string) {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM := func() (*ecdsa.PrivateKey, string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalECPrivateKey(k)
		return k, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	}
	k, kp := keyPEM()
	write("a.test_ecc/fullchain.cer", string(certtest.New(t, certtest.Spec{Key: k, Names: []string{"a.test", "www.a.test"}}).PEM()))
	write("a.test_ecc/a.test.key", kp)
	write("a.test_ecc/a.test.conf", "Le_Domain='a.test'\nLe_Alt='www.a.test'\nLe_Webroot='/var/www/a'\nLe_API='https://acme.test/dir'\n")
	_, ap := keyPEM()
	write("ca/acme.test/dir/account.key", ap)
	write("ca/acme.test/dir/ca.conf", "ACCOUNT_URL='https://acme.test/acct/7'\n")
	return home
}

func TestImportVerb(t *testing.T) {
	home := acmeshHome(t)
	tmp := t.TempDir()
	stDir, toml, report := filepath.Join(tmp, "store"), filepath.Join(tmp, "md.toml"), filepath.Join(tmp, "import.json")

	code, out, errOut := run(t, "import", "--store", stDir, "--toml", toml, "--report", report, "acme.sh", home)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := records(t, out)
	if len(recs) != 1 || recs[0].Name != "a.test" || recs[0].CA == nil || recs[0].CA.Account != "ACME-acme.test-0000" ||
		recs[0].Source == nil || recs[0].Source.File != toml || recs[0].Store != stDir {
		t.Fatalf("records %+v", recs)
	}
	var rep importer.Report
	if err := json.Unmarshal([]byte(readOrFail(t, report)), &rep); err != nil || len(rep.Accounts) != 1 || rep.Certificates[0].Status != importer.StatusImported {
		t.Errorf("report: %v %+v", err, rep)
	}

	// md-parse on the md.toml takes over: the same record, nothing to sync
	code, out2, errOut := run(t, "-v", toml)
	if code != cli.ExitOK || strings.TrimSpace(out2) != strings.TrimSpace(out) || strings.Contains(errOut, "wrote domains/") {
		t.Errorf("md-parse %s: exit %d\n%s\nwant the import's record\n%s\nstderr: %s", toml, code, out2, out, errOut)
	}

	// usage errors: exit 2, nothing on stdout
	for _, args := range [][]string{
		{"import"},
		{"import", "acme.sh"},
		{"import", "certbot2", home},
		{"import", "--store", stDir, "certbot", home},
		{"import", "--store", stDir, "--toml", toml, "acme.sh", home},
	} {
		if code, out, errOut := run(t, args...); code != cli.ExitUsage || out != "" {
			t.Errorf("md-parse %s: exit %d, stdout %q, stderr %s; want 2 and no output", strings.Join(args, " "), code, out, errOut)
		}
	}
	if code, out, _ := run(t, "import", "--help"); code != cli.ExitOK || !strings.Contains(out, "certbot|lego|acme.sh DIR") || !strings.Contains(out, "--toml") {
		t.Errorf("import --help: exit %d\n%s", code, out)
	}
}

func readOrFail(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
