package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "md")
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func selfSigned(t *testing.T, key crypto.Signer, names ...string) *x509.Certificate {
	t.Helper()
	return certtest.New(t, certtest.Spec{Names: names, Serial: big.NewInt(42), Key: key,
		NotAfter: time.Now().Add(90 * 24 * time.Hour)}).Cert
}

func TestLayoutAndPermissions(t *testing.T) {
	s, dir := openTemp(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := selfSigned(t, key, "a.org")
	for _, g := range []Group{GroupDomains, GroupStaging} {
		if err := s.SaveMD(t.Context(), g, &md.MD{Name: "a.org", Domains: []string{"a.org"}, EAB: &md.EAB{KID: "k", HMAC: "secret"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveKey(t.Context(), g, "a.org", "privkey.secp256r1.pem", key); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveChain(t.Context(), g, "a.org", "pubcert.secp256r1.pem", []*x509.Certificate{cert}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]os.FileMode{
		".": 0o755, "md_store.json": 0o600,
		"accounts": 0o755, "challenges": 0o755, "staging": 0o755, "ocsp": 0o755,
		"domains": 0o700, "archive": 0o700, "tmp": 0o700,
		"domains/a.org": 0o700, "domains/a.org/md.json": 0o600,
		"domains/a.org/privkey.secp256r1.pem": 0o600, "domains/a.org/pubcert.secp256r1.pem": 0o600,
		"staging/a.org": 0o755, "staging/a.org/privkey.secp256r1.pem": 0o600,
		"staging/a.org/md.json":               0o600, // holds the EAB HMAC
		"staging/a.org/pubcert.secp256r1.pem": 0o644,
	}
	for p, m := range want {
		if got := mode(t, filepath.Join(dir, p)); got != m {
			t.Errorf("%s: mode %o; want %o", p, got, m)
		}
	}
	plain, _ := os.ReadFile(filepath.Join(dir, "domains/a.org/privkey.secp256r1.pem"))
	enc, _ := os.ReadFile(filepath.Join(dir, "staging/a.org/privkey.secp256r1.pem"))
	if !strings.HasPrefix(string(plain), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("domains key not plain PKCS#8: %.40s", plain)
	}
	if !strings.HasPrefix(string(enc), "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
		t.Errorf("staging key not encrypted: %.40s", enc)
	}
	got, err := s.LoadKey(t.Context(), GroupStaging, "a.org", "privkey.secp256r1.pem")
	if err != nil {
		t.Fatal(err)
	}
	if !got.(*ecdsa.PrivateKey).Equal(key) {
		t.Error("encrypted key round trip gives another key")
	}
}

func TestAtomicWriteKeepsOldContentOnFailure(t *testing.T) {
	s, dir := openTemp(t)
	if err := s.Write(t.Context(), GroupDomains, "a.org", "md.json", []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected crash")
	beforeRename = func(string) error { return boom }
	defer func() { beforeRename = nil }()
	if err := s.Write(t.Context(), GroupDomains, "a.org", "md.json", []byte("new")); !errors.Is(err, boom) {
		t.Fatalf("err = %v; want injected", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "domains/a.org/md.json"))
	if string(data) != "old" {
		t.Errorf("content = %q; want old", data)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "domains/a.org"))
	if len(entries) != 1 {
		t.Errorf("temp file left behind: %v", entries)
	}
}

func TestBadNamesRejected(t *testing.T) {
	s, _ := openTemp(t)
	for _, name := range []string{"..", "../x", "a/b", "a\x00b", ".hidden", "a..b", "*", "*.", "a b"} {
		if err := s.Write(t.Context(), GroupDomains, name, "md.json", []byte("x")); !errors.Is(err, ErrBadName) {
			t.Errorf("name %q: err = %v; want ErrBadName", name, err)
		}
	}
	for _, file := range []string{"../md.json", "x/y", ".x", ""} {
		if _, err := s.Read(t.Context(), GroupDomains, "a.org", file); !errors.Is(err, ErrBadName) && file != "" {
			t.Errorf("file %q: err = %v; want ErrBadName", file, err)
		}
	}
	for _, name := range []string{"*.a.org", "::1", "2001:db8::1", "127.0.0.1"} {
		if err := s.Write(t.Context(), GroupDomains, name, "md.json", []byte("{}")); err != nil {
			t.Errorf("MD name %q refused: %v", name, err)
		}
	}
	if _, err := s.Read(t.Context(), GroupDomains, "::1", "a:b"); !errors.Is(err, ErrBadName) {
		t.Errorf("file name with ':': err = %v; want ErrBadName", err)
	}
}

func TestCorruptFilesNamed(t *testing.T) {
	s, dir := openTemp(t)
	must(t, os.MkdirAll(filepath.Join(dir, "domains/a.org"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "domains/a.org/md.json"), []byte(`{"name": 7}`), 0o600))
	_, err := s.LoadMD(t.Context(), GroupDomains, "a.org")
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.Path, "domains/a.org/md.json") || !strings.Contains(err.Error(), `"name"`) {
		t.Errorf("LoadMD err = %v; want CorruptError naming file and field", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, s.SaveChain(t.Context(), GroupDomains, "a.org", "pubcert.pem", []*x509.Certificate{selfSigned(t, key, "a.org")}))
	p := filepath.Join(dir, "domains/a.org/pubcert.pem")
	data, _ := os.ReadFile(p)
	must(t, os.WriteFile(p, data[:len(data)/2], 0o600))
	if _, err := s.LoadChain(t.Context(), GroupDomains, "a.org", "pubcert.pem"); !errors.As(err, &ce) {
		t.Errorf("truncated PEM: err = %v; want CorruptError", err)
	}
	if _, err := s.LoadMD(t.Context(), GroupDomains, "b.org"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing md.json: err = %v; want fs.ErrNotExist", err)
	}
}

func TestCorruptStoreFileNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	bad := []byte(`{"store": {"version": 3.0}, "key": `)
	must(t, os.WriteFile(filepath.Join(dir, "md_store.json"), bad, 0o600))
	_, err := Open(t.Context(), dir)
	if err == nil || !strings.Contains(err.Error(), "md_store.json") {
		t.Fatalf("err = %v; want error naming md_store.json", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "md_store.json"))
	if string(data) != string(bad) {
		t.Error("corrupt md_store.json was rewritten")
	}
	must(t, os.WriteFile(filepath.Join(dir, "md_store.json"), []byte(`{"store":{"version":4.0},"key":"AAAA"}`), 0o600))
	if _, err := Open(t.Context(), dir); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("future version: err = %v", err)
	}
}

// printableStore creates a store whose key bytes contain no NUL or newline,
// so that openssl can read the passphrase from a file.
func printableStore(t *testing.T) (*Store, string, string) {
	t.Helper()
	dir := t.TempDir()
	key := []byte(strings.Repeat("k3y-Passphrase!", 4)[:48])
	must(t, os.WriteFile(filepath.Join(dir, "md_store.json"),
		[]byte(fmt.Sprintf(`{"store":{"version":3.0},"key":%q}`, base64.RawURLEncoding.EncodeToString(key))), 0o600))
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(t.TempDir(), "pass")
	must(t, os.WriteFile(passFile, key, 0o600))
	return s, dir, passFile
}

func TestEncryptedKeysInteropWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not installed: run `make test`, which installs it, or apt-get install openssl")
	}
	s, dir, passFile := printableStore(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	must(t, s.SaveKey(t.Context(), GroupAccounts, "ACME-localhost-0000", FileAccountKey, rsaKey))
	ours := filepath.Join(dir, "accounts/ACME-localhost-0000/account.pem")
	out, err := exec.Command(openssl, "pkey", "-in", ours, "-passin", "file:"+passFile, "-pubout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cannot read our encrypted key: %v\n%s", err, out)
	}
	pub, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())
	if !strings.Contains(strings.ReplaceAll(string(out), "\n", ""), base64.StdEncoding.EncodeToString(pub)[:60]) {
		t.Errorf("openssl printed another public key:\n%s", out)
	}
	// OpenSSL encrypts a key the way mod_md does; we must read it back.
	plain := filepath.Join(t.TempDir(), "plain.pem")
	encOut := filepath.Join(dir, "staging/a.org/privkey.pem")
	must(t, os.MkdirAll(filepath.Dir(encOut), 0o755))
	if out, err := exec.Command(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", plain).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := exec.Command(openssl, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-out", encOut, "-passout", "file:"+passFile).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	k, err := s.LoadKey(t.Context(), GroupStaging, "a.org", "privkey.pem")
	if err != nil {
		t.Fatalf("reading OpenSSL-encrypted key: %v", err)
	}
	if k.(*ecdsa.PrivateKey).Curve != elliptic.P384() {
		t.Error("wrong key read")
	}
	// A wrong passphrase is a clear error, not garbage.
	if _, err := ParseKeyPEM(mustRead(t, encOut), []byte("wrong")); err == nil || !strings.Contains(err.Error(), "decrypting") {
		t.Errorf("wrong passphrase: err = %v", err)
	}
}

func TestLockExcludesAndTimesOut(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	unlock, err := s.Lock(ctx, "a.org", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "a.org", 200*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock: err = %v; want ErrLocked", err)
	}
	if u, err := s.Lock(ctx, "b.org", -1); err != nil {
		t.Errorf("other MD lock: %v", err)
	} else {
		u()
	}
	unlock()
	if u, err := s.Lock(ctx, "a.org", -1); err != nil {
		t.Errorf("lock after unlock: %v", err)
	} else {
		u()
	}
}

// TestLockReleasedWhenHolderDies runs a child that takes the store lock and
// is then killed with SIGKILL; the lock must be free afterwards.
func TestLockReleasedWhenHolderDies(t *testing.T) {
	if dir := os.Getenv("MDTOOLS_LOCK_HOLDER"); dir != "" {
		s, err := Open(t.Context(), dir)
		if err != nil {
			os.Exit(2)
		}
		if _, err := s.Lock(context.Background(), "", time.Second); err != nil {
			os.Exit(3)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	s, dir := openTemp(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockReleasedWhenHolderDies$")
	cmd.Env = append(os.Environ(), "MDTOOLS_LOCK_HOLDER="+dir)
	stdout, _ := cmd.StdoutPipe()
	must(t, cmd.Start())
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked" {
		t.Fatalf("child did not lock: %q %v", buf, err)
	}
	if _, err := s.Lock(context.Background(), "", -1); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock while child holds it: err = %v", err)
	}
	must(t, cmd.Process.Kill())
	_ = cmd.Wait()
	unlock, err := s.Lock(context.Background(), "", time.Second)
	if err != nil {
		t.Fatalf("lock after holder was killed: %v", err)
	}
	unlock()
}

func TestPromoteArchivesAndRecovers(t *testing.T) {
	s, dir := openTemp(t)
	write := func(g Group, content string) {
		must(t, s.Write(t.Context(), g, "a.org", "pubcert.pem", []byte(content)))
	}
	live := func() string { return string(mustRead(t, filepath.Join(dir, "domains/a.org/pubcert.pem"))) }

	write(GroupTmp, "one")
	if arch, err := s.Promote(t.Context(), GroupTmp, "a.org"); err != nil || arch != "" {
		t.Fatalf("first promote: %q %v", arch, err)
	}
	write(GroupTmp, "two")
	arch, err := s.Promote(t.Context(), GroupTmp, "a.org")
	if err != nil || arch != "a.org.1" || live() != "two" {
		t.Fatalf("second promote: %q %v live=%q", arch, err, live())
	}
	if got := string(mustRead(t, filepath.Join(dir, "archive/a.org.1/pubcert.pem"))); got != "one" {
		t.Errorf("archive holds %q", got)
	}
	if mode(t, filepath.Join(dir, "domains/a.org")) != 0o700 || mode(t, filepath.Join(dir, "archive/a.org.1")) != 0o700 {
		t.Error("promoted or archived set has wrong mode")
	}
	// Simulate a crash right after the exchange of a third promote.
	write(GroupTmp, "three")
	must(t, s.b.Write(t.Context(), GroupDomains, "a.org", fileSuperseded, nil))
	must(t, s.b.Exchange(t.Context(), GroupTmp, "a.org", GroupDomains, "a.org"))
	if live() != "three" {
		t.Fatal("exchange did not swap")
	}
	arch, err = s.RecoverPromote(t.Context(), GroupTmp, "a.org")
	if err != nil || arch != "a.org.2" || live() != "three" {
		t.Fatalf("recover: %q %v live=%q", arch, err, live())
	}
	if s.Exists(t.Context(), GroupArchive, "a.org.2", fileSuperseded) || s.Exists(t.Context(), GroupTmp, "a.org", "pubcert.pem") {
		t.Error("recovery left marker or temp set behind")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSaveMDKeepsRealHMAC: a definition from the record stream carries the
// HMAC as "***"; whatever group it is written to, the store keeps the real
// value of domains/<md>/md.json (same kid) and never writes "***" (issue
// 11 item 1: EAB lost after the first install).
func TestSaveMDKeepsRealHMAC(t *testing.T) {
	s, dir := openTemp(t)
	if err := s.SaveMD(t.Context(), GroupDomains, &md.MD{Name: "a.org", Domains: []string{"a.org"}, EAB: &md.EAB{KID: "k", HMAC: "real"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		g    Group
		eab  md.EAB
		want string
	}{
		{"staging from a record", GroupStaging, md.EAB{KID: "k", HMAC: md.RedactedSecret}, "real"},
		{"tmp (activation) from a record", GroupTmp, md.EAB{KID: "k", HMAC: md.RedactedSecret}, "real"},
		{"other kid: no hmac", GroupStaging, md.EAB{KID: "other", HMAC: md.RedactedSecret}, ""},
		{"domains itself from a record", GroupDomains, md.EAB{KID: "k", HMAC: md.RedactedSecret}, "real"},
		{"a real new value", GroupDomains, md.EAB{KID: "k", HMAC: "new"}, "new"},
	}
	for _, tc := range tests {
		e := tc.eab
		if err := s.SaveMD(t.Context(), tc.g, &md.MD{Name: "a.org", Domains: []string{"a.org"}, EAB: &e}); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, string(tc.g), "a.org", "md.json"))
		if strings.Contains(string(raw), md.RedactedSecret) {
			t.Errorf("%s: %q written into the store:\n%s", tc.name, md.RedactedSecret, raw)
		}
		m, err := s.LoadMD(t.Context(), tc.g, "a.org")
		if err != nil || m.EAB == nil || m.EAB.HMAC != tc.want {
			t.Errorf("%s: stored eab %+v (%v); want hmac %q", tc.name, m.EAB, err, tc.want)
		}
		if e.HMAC != tc.eab.HMAC {
			t.Errorf("%s: the caller's record was changed", tc.name)
		}
	}
}

// The PBKDF2 count written depends on the store key: one iteration for a
// random key of 32 bytes or more (mod_md's and ours are 48), OpenSSL's 2,048
// for a shorter, maybe hand-chosen one. Either way the key reads back here
// and in openssl.
func TestEncryptedKeyIterations(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not installed: run `make test`, which installs it, or apt-get install openssl")
	}
	for _, tc := range []struct {
		pass string
		want int
	}{
		{strings.Repeat("r", 48), 1},
		{strings.Repeat("r", 32), 1},
		{strings.Repeat("r", 31), 2048},
		{"hunter2", 2048},
	} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		enc, err := encryptPKCS8(der, []byte(tc.pass))
		if err != nil {
			t.Fatal(err)
		}
		var epki encryptedPrivateKeyInfo
		var p pbes2Params
		var kp pbkdf2Params
		if _, err := asn1.Unmarshal(enc, &epki); err != nil {
			t.Fatal(err)
		}
		if _, err := asn1.Unmarshal(epki.Algo.Parameters.FullBytes, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := asn1.Unmarshal(p.KeyDerivationFunc.Parameters.FullBytes, &kp); err != nil {
			t.Fatal(err)
		}
		if kp.IterationCount != tc.want {
			t.Errorf("pass of %d bytes: %d iterations, want %d", len(tc.pass), kp.IterationCount, tc.want)
		}
		back, err := decryptPKCS8(enc, []byte(tc.pass))
		if err != nil || !bytes.Equal(back, der) {
			t.Errorf("pass of %d bytes: read back %v", len(tc.pass), err)
		}
		dir := t.TempDir()
		file, passFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pass")
		must(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}), 0o600))
		must(t, os.WriteFile(passFile, []byte(tc.pass), 0o600))
		out, err := exec.Command(openssl, "pkey", "-in", file, "-passin", "file:"+passFile, "-noout").CombinedOutput()
		if err != nil {
			t.Errorf("pass of %d bytes: openssl cannot read the key: %v\n%s", len(tc.pass), err, out)
		}
	}
}
