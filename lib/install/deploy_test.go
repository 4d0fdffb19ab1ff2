package install

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

func TestDeployFiles(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	deployDir := filepath.Join(t.TempDir(), "certs")
	rsaSpec := md.KeySpec{Type: md.KeyRSA, Bits: 2048}
	rec := testRecord("d.test", md.KeySpecs{rsaSpec, ecSpec})
	rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deployDir, "d.test"), Mode: "0640", KeyMode: "0600"}}
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Error != nil || rec.Install.Deploy != filepath.Join(deployDir, "d.test") {
		t.Fatalf("install %+v error %+v", rec.Install, rec.Error)
	}
	checkDeploy(t, deployDir, "d.test", creds)
	first, _ := os.Readlink(filepath.Join(deployDir, "d.test"))
	if !strings.HasPrefix(first, ".d.test.") || strings.Contains(first, "/") {
		t.Errorf("symlink target %q; want a hidden sibling", first)
	}

	rec2 := testRecord("d.test", md.KeySpecs{rsaSpec, ecSpec})
	rec2.Host = rec.Host
	creds2 := freshCreds(t, rec2)
	stageSet(t, st, rec2, creds2)
	if err := run(t, st, time.Now(), rec2); err != nil {
		t.Fatal(err)
	}
	checkDeploy(t, deployDir, "d.test", creds2)
	second, _ := os.Readlink(filepath.Join(deployDir, "d.test"))
	if first == second {
		t.Errorf("symlink not flipped")
	}
	if _, err := os.Stat(filepath.Join(deployDir, first)); !os.IsNotExist(err) {
		t.Errorf("previous deploy set not removed: %v", err)
	}
	// A deploy removed by hand is restored from the live set.
	os.Remove(filepath.Join(deployDir, "d.test"))
	rec3 := testRecord("d.test", md.KeySpecs{rsaSpec, ecSpec})
	rec3.Host = rec.Host
	if err := run(t, st, time.Now(), rec3); err != nil {
		t.Fatal(err)
	}
	checkDeploy(t, deployDir, "d.test", creds2)
	if entries, _ := os.ReadDir(deployDir); len(entries) != 2 {
		t.Errorf("deploy dir holds %d entries; want the symlink and one set", len(entries))
	}
}

func checkDeploy(t *testing.T, dir, name string, creds []stagedCred) {
	t.Helper()
	for _, c := range creds {
		read := func(base string) []byte {
			p := filepath.Join(dir, name, c.spec.FileName(base))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(p)
			want := os.FileMode(0o640)
			if base == "privkey" || base == "combined" {
				want = 0o600
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s mode %v; want %v", p, fi.Mode().Perm(), want)
			}
			return b
		}
		cert, chain, full, key, combined := read("cert"), read("chain"), read("fullchain"), read("privkey"), read("combined")
		leaf, err := store.ParseChainPEM(cert)
		if err != nil || len(leaf) != 1 || !bytes.Equal(leaf[0].Raw, c.chain[0].Raw) {
			t.Errorf("%s cert.pem wrong: %v", c.spec.Name(), err)
		}
		if ch, err := store.ParseChainPEM(chain); err != nil || len(ch) != len(c.chain)-1 {
			t.Errorf("chain.pem: %v", err)
		}
		if !bytes.Equal(full, append(append([]byte{}, cert...), chain...)) {
			t.Errorf("fullchain.pem is not cert+chain")
		}
		k, err := store.ParseKeyPEM(key, nil)
		if err != nil || !publicKeysEqual(k.Public(), c.chain[0].PublicKey) {
			t.Errorf("privkey.pem does not match: %v", err)
		}
		// combined = fullchain + key, parseable as a TLS key pair
		if !bytes.HasPrefix(combined, full) || !bytes.HasSuffix(combined, key) {
			t.Errorf("combined.pem is not fullchain+key")
		}
		var certs []*x509.Certificate
		rest := combined
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				c, _ := x509.ParseCertificate(b.Bytes)
				certs = append(certs, c)
			}
		}
		if len(certs) != len(c.chain) {
			t.Errorf("combined.pem has %d certs", len(certs))
		}
	}
}

func TestDeployOwnerAndRefusals(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	base := t.TempDir()
	rec := testRecord("o.test", md.KeySpecs{ecSpec})
	creds := freshCreds(t, rec)
	stageSet(t, st, rec, creds)

	// a real directory where the symlink belongs: refused, nothing activated
	blocked := filepath.Join(base, "o.test")
	if err := os.MkdirAll(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	rec.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: blocked}}
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Error == nil || rec.Error.Problem != ProblemDeploy || !strings.Contains(rec.Error.Detail, "not a symlink made by md-install") {
		t.Fatalf("error %+v", rec.Error)
	}
	if st.Exists(t.Context(), store.GroupDomains, "o.test", ecSpec.FileName("pubcert")) || !st.Exists(t.Context(), store.GroupStaging, "o.test", store.FileMD) {
		t.Fatalf("a failed deploy must leave the staged set for the next run")
	}
	for _, tc := range []struct{ mode, want string }{{"0x1", "octal"}, {"1777", "octal"}} {
		r := testRecord("o.test", md.KeySpecs{ecSpec})
		r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(base, "other"), Mode: tc.mode}}
		if err := run(t, st, time.Now(), r); err != nil {
			t.Fatal(err)
		}
		if r.Error == nil || !strings.Contains(r.Error.Detail, tc.want) {
			t.Errorf("mode %q: error %+v", tc.mode, r.Error)
		}
	}

	// owner and group (as root: chown to nobody)
	if os.Geteuid() != 0 {
		return
	}
	r := testRecord("o.test", md.KeySpecs{ecSpec})
	r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(base, "certs", "o.test"), Owner: "nobody", Group: "nogroup", KeyMode: "0640"}}
	if err := run(t, st, time.Now(), r); err != nil {
		t.Fatal(err)
	}
	if r.Error != nil || r.Install.Action != "activated" {
		t.Fatalf("%+v %+v", r.Install, r.Error)
	}
	for _, f := range []string{"privkey.p-256.pem", "fullchain.p-256.pem"} {
		fi, err := os.Stat(filepath.Join(base, "certs", "o.test", f))
		if err != nil {
			t.Fatal(err)
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s owned by %d:%d; want nobody:nogroup", f, sys.Uid, sys.Gid)
		}
		if strings.HasPrefix(f, "privkey") && fi.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
}

// A reader that resolves the deploy path once never sees a certificate
// beside a key of another set while sets are switched under it.
func TestDeployReaderNeverSeesAMix(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	deploy := filepath.Join(t.TempDir(), "r.test")
	rec := testRecord("r.test", md.KeySpecs{ecSpec})
	sets := [][]stagedCred{freshCreds(t, rec), freshCreds(t, rec)}
	stop := make(chan struct{})
	done := make(chan struct{})
	reads, mixes := 0, 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			dir, err := filepath.EvalSymlinks(deploy)
			if err != nil {
				continue
			}
			certPEM, err1 := os.ReadFile(filepath.Join(dir, ecSpec.FileName("cert")))
			keyPEM, err2 := os.ReadFile(filepath.Join(dir, ecSpec.FileName("privkey")))
			if err1 != nil || err2 != nil {
				continue // the old set was removed after the flip: read again
			}
			chain, err1 := store.ParseChainPEM(certPEM)
			key, err2 := store.ParseKeyPEM(keyPEM, nil)
			if err1 != nil || err2 != nil {
				mixes++ // a torn file
				continue
			}
			reads++
			if !publicKeysEqual(key.Public(), chain[0].PublicKey) {
				mixes++
			}
		}
	}()
	for i := 0; i < 8; i++ {
		r := testRecord("r.test", md.KeySpecs{ecSpec})
		r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: deploy}}
		stageSet(t, st, r, sets[i%2])
		if err := run(t, st, time.Now(), r); err != nil || r.Install.Action != "activated" {
			t.Fatalf("round %d: %v %+v %+v", i, err, r.Install, r.Error)
		}
	}
	close(stop)
	<-done
	if mixes != 0 || reads == 0 {
		t.Errorf("%d consistent reads, %d mixed or torn", reads, mixes)
	}
}
