package importer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// acmeshHome lays out an acme.sh home as acme.sh 3 writes it (there is no
// Debian package; the layout follows acme.sh's documented files: a
// KEY='value' domain conf with base64-wrapped hooks, <domain>.cer,
// <domain>.key, ca.cer and fullchain.cer per directory, <domain>_ecc for
// ECDSA keys, and per CA ca/<host>/<path>/ with account.key, account.json
// and ca.conf). The certificates are real ones from Pebble, obtained with
// the account written there, through webroot.
type acmeshHome struct {
	dir, webroot, caURL string
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// keyPEMOf writes a key as acme.sh's OpenSSL calls do: SEC 1 for EC
// (openssl ecparam -genkey -noout), PKCS#8 for RSA (OpenSSL 3 genrsa).
func keyPEMOf(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	if ek, ok := k.(*ecdsa.PrivateKey); ok {
		der, err := x509.MarshalECPrivateKey(ek)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// account writes ca/<host>/<path>/ for the account key and URL.
func (h *acmeshHome) account(t *testing.T, key crypto.Signer, url string) {
	t.Helper()
	ca := filepath.Join(h.dir, "ca", acmeshCADir(h.caURL))
	writeFile(t, filepath.Join(ca, "account.key"), keyPEMOf(t, key), 0o600)
	writeFile(t, filepath.Join(ca, "account.json"), []byte(`{"status":"valid","contact":["mailto:admin@example.org"]}`), 0o644)
	writeFile(t, filepath.Join(ca, "ca.conf"), []byte(fmt.Sprintf("\nACCOUNT_URL='%s'\nCA_KEY_HASH='x'\n", url)), 0o644)
}

// domain writes <sub>/ for a certificate chain (DER) and key, with conf
// lines added to the usual ones.
func (h *acmeshHome) domain(t *testing.T, sub, main string, alt []string, chain [][]byte, key crypto.Signer, conf ...string) {
	t.Helper()
	d := filepath.Join(h.dir, sub)
	var leaf, rest bytes.Buffer
	_ = pem.Encode(&leaf, &pem.Block{Type: "CERTIFICATE", Bytes: chain[0]})
	for _, c := range chain[1:] {
		_ = pem.Encode(&rest, &pem.Block{Type: "CERTIFICATE", Bytes: c})
	}
	writeFile(t, filepath.Join(d, main+".cer"), leaf.Bytes(), 0o644)
	writeFile(t, filepath.Join(d, "ca.cer"), rest.Bytes(), 0o644)
	writeFile(t, filepath.Join(d, "fullchain.cer"), append(leaf.Bytes(), rest.Bytes()...), 0o644)
	writeFile(t, filepath.Join(d, main+".key"), keyPEMOf(t, key), 0o600)
	altv := "no"
	if len(alt) > 0 {
		altv = strings.Join(alt, ",")
	}
	lines := []string{"Le_Domain='" + main + "'", "Le_Alt='" + altv + "'", "Le_Webroot='" + h.webroot + "'",
		"Le_PreHook=''", "Le_PostHook=''", "Le_RenewHook=''", "Le_API='" + h.caURL + "'"}
	writeFile(t, filepath.Join(d, main+".conf"), []byte(strings.Join(append(lines, conf...), "\n")+"\n"), 0o600)
}

func b64conf(s string) string {
	return "__ACME_BASE64__START_" + base64.StdEncoding.EncodeToString([]byte(s)) + "__ACME_BASE64__END_"
}

// TestAcmeSh: an acme.sh home with an RSA and an ECDSA certificate for the
// same names (<domain>/ and <domain>_ecc/) becomes one MD with two key
// specs; the EC account is imported; md-order finds nothing due and a
// forced renewal orders both keys with the imported account through the
// webroot.
func TestAcmeSh(t *testing.T) {
	t.Parallel()
	ca := startCA(t)
	tmp := t.TempDir()
	h := &acmeshHome{dir: filepath.Join(tmp, ".acme.sh"), webroot: filepath.Join(tmp, "www"), caURL: ca.DirectoryURL}
	serveWebroot(t, ca, h.webroot)
	acctKey := ecKey(t)
	names := []string{"e.example.org", "www.e.example.org"}
	ecCert, rsaCert := ecKey(t), rsaKey(t)
	c, acctURL := register(t, ca, acctKey)
	ecChain := issue(t, c, ecCert, h.webroot, names...)
	rsaChain := issue(t, c, rsaCert, h.webroot, names...)
	h.account(t, acctKey, acctURL)
	h.domain(t, "e.example.org_ecc", "e.example.org", names[1:], ecChain, ecCert, "Le_Keylength='ec-256'",
		"Le_ReloadCmd='"+b64conf("systemctl reload nginx")+"'", "Le_RenewalDays='60'")
	h.domain(t, "e.example.org", "e.example.org", names[1:], rsaChain, rsaCert, "Le_Keylength='2048'")

	st, stDir := openStore(t)
	res := importT(t, ca, st, Options{Client: AcmeSh, Dir: h.dir, StoreDir: stDir}, 1)
	rec := res.Records[0]
	if got := rec.PrivKey; len(got) != 2 || got[0].Type != md.KeyRSA || got[1].Curve != "secp256r1" {
		t.Errorf("privkey %+v; want RSA 2048 and secp256r1", got)
	}
	id := res.Report.Accounts[0].ID
	f, key := storedAccount(t, st, id)
	if !acctKey.Equal(key) || f.URL != acctURL || f.CAURL != ca.DirectoryURL || rec.CA.Account != id {
		t.Errorf("account %s: %+v (key equal %v), record ca %+v; want %s", id, f, acctKey.Equal(key), rec.CA, acctURL)
	}
	sameFile(t, st, rec.Name, "pubcert.pem", filepath.Join(h.dir, "e.example.org", "fullchain.cer"))
	sameFile(t, st, rec.Name, "privkey.pem", filepath.Join(h.dir, "e.example.org", "e.example.org.key"))
	sameFile(t, st, rec.Name, "pubcert.secp256r1.pem", filepath.Join(h.dir, "e.example.org_ecc", "fullchain.cer"))
	sameFile(t, st, rec.Name, "privkey.secp256r1.pem", filepath.Join(h.dir, "e.example.org_ecc", "e.example.org.key"))
	if rec.Host == nil || rec.Host.Webroot != h.webroot {
		t.Errorf("host %+v; want webroot %s", rec.Host, h.webroot)
	}
	if !hasNote(res, "e.example.org_ecc", "acme.sh reloadcmd") {
		t.Errorf("the reload command (base64 in the conf) is not reported: %+v", res.Report.Certificates)
	}
	orderNone(t, ca, st, res.Records)
	forceRenewal(t, ca, st, rec, "", acctURL)
}
