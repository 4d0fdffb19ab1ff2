package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestModMDActivatesOrderedSet hands a set md-order staged (certificate
// from Pebble, private key and new account encrypted with the store key)
// to Apache's mod_md, which activates staged sets when it starts: it must
// decrypt both keys (ours use one PBKDF2 iteration, mod_md's OpenSSL
// 2,048), take the account into accounts/ and make the set live, not
// purge it as unreadable (AH10069).
func TestModMDActivatesOrderedSet(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	srv := apachetest.New(t, apachetest.Options{Ports: 2, Modules: []string{"mpm_event", "authz_core", "socache_shmcb", "ssl", "md"},
		Config: func(s *apachetest.Server) string {
			return fmt.Sprintf(`LogLevel warn md:debug
ServerName localhost
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
MDStoreDir "%[1]s/md"
MDCertificateAuthority %[4]s
MDCACertificateFile %[5]s
MDCertificateAgreement accepted
MDContactEmail admin@example.org
MDRenewMode manual
<MDomain mm.test>
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName mm.test
    SSLEngine on
</VirtualHost>
`, s.Root, s.Ports[0], s.Ports[1], ca.DirectoryURL, ca.RootsFile)
		}})
	dir := filepath.Join(srv.Root, "md")
	rec := record([]string{ca.DirectoryURL}, "mm.test")
	rec.PrivKey = md.KeySpecs{{Type: md.KeyRSA, Bits: 2048}}
	res := runOrder(t, jsonl(t, rec), caArgs(ca, dir)...)
	if res.code != 0 || res.recs[0].Order == nil || res.recs[0].Order.Action != "ordered" {
		t.Fatalf("md-order: exit %d %+v\n%s", res.code, res.recs[0].Order, res.stderr)
	}
	st := mustStore(t, dir)
	staged, err := st.LoadChain(t.Context(), store.GroupStaging, "mm.test", "pubcert.pem")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"privkey.pem", store.FileAccountKey} {
		if data, _ := os.ReadFile(filepath.Join(dir, "staging", "mm.test", f)); !strings.Contains(string(data), "ENCRYPTED PRIVATE KEY") {
			t.Fatalf("staging/mm.test/%s is not an encrypted key:\n%s", f, data)
		}
	}
	st.Close()

	srv.Start()
	live := filepath.Join(dir, "domains", "mm.test", "pubcert.pem")
	for i := 0; ; i++ {
		if data, err := os.ReadFile(live); err == nil && strings.Contains(string(data), "END CERTIFICATE") {
			block, _ := pem.Decode(data)
			if c, err := x509.ParseCertificate(block.Bytes); err == nil && c.SerialNumber.Cmp(staged[0].SerialNumber) == 0 {
				break
			}
		}
		if i == 600 {
			t.Fatalf("mod_md did not activate the staged set:\n%s", srv.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Stop()
	if strings.Contains(srv.ErrorLog(), "AH10069") {
		t.Errorf("mod_md reports a staging problem:\n%s", srv.ErrorLog())
	}
	st = mustStore(t, dir)
	key, err := st.LoadKey(t.Context(), store.GroupDomains, "mm.test", "privkey.pem")
	if err != nil {
		t.Fatalf("live key mod_md wrote: %v", err)
	}
	if !publicEqual(staged[0].PublicKey, key.Public()) {
		t.Error("mod_md made another key live than the one md-order staged")
	}
	if _, err := os.Stat(filepath.Join(dir, "staging", "mm.test")); !os.IsNotExist(err) {
		t.Errorf("staging/mm.test left after activation: %v", err)
	}
	m, err := st.LoadMD(t.Context(), store.GroupDomains, "mm.test")
	if err != nil || m.CA == nil || m.CA.Account == "" {
		t.Fatalf("live md.json: %+v, %v; want the staged account taken over", m, err)
	}
	if _, err := st.LoadKey(t.Context(), store.GroupAccounts, m.CA.Account, store.FileAccountKey); err != nil {
		t.Errorf("account %s mod_md saved: %v", m.CA.Account, err)
	}
}

func publicEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
