package store_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/store"
)

// TestApacheStoreNotLoosened lets Apache's mod_md create its store (with
// its own modes and, as root, its worker user as owner of some groups),
// then opens it with every mutating operation md-* commands run: no
// directory may gain a permission bit. (mdtools once turned mod_md's
// ocsp/ 0750 into 0755.)
func TestApacheStoreNotLoosened(t *testing.T) {
	srv := apachetest.New(t, apachetest.Options{Ports: 2, Modules: []string{"mpm_event", "authz_core", "socache_shmcb", "ssl", "md"},
		Config: func(s *apachetest.Server) string {
			return fmt.Sprintf(`LogLevel warn
ServerName localhost
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
MDStoreDir "%[1]s/md"
MDCertificateAuthority https://127.0.0.1:1/dir
MDCertificateAgreement accepted
MDContactEmail admin@example.org
MDRenewMode manual
<MDomain ap.test>
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName ap.test
    SSLEngine on
</VirtualHost>
`, s.Root, s.Ports[0], s.Ports[1])
		}})
	srv.Start()
	dir := filepath.Join(srv.Root, "md")
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(dir, "domains", "ap.test", "md.json")); err == nil {
			break
		}
		if i == 600 {
			t.Fatalf("mod_md did not create its store:\n%s", srv.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Stop()
	// An administrator's stricter choice beside mod_md's own modes.
	if err := os.Chmod(filepath.Join(dir, "ocsp"), 0o750); err != nil {
		t.Fatal(err)
	}
	before := dirModes(t, dir)

	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []store.Group{store.GroupStaging, store.GroupOCSP, store.GroupChallenges, store.GroupDomains, store.GroupAccounts} {
		if err := st.Write(t.Context(), g, "ap.test", "job.json", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Move(t.Context(), store.GroupStaging, "ap.test", store.GroupTmp, "ap.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Promote(t.Context(), store.GroupTmp, "ap.test"); err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock(context.Background(), "ap.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := store.Open(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	after := dirModes(t, dir)
	for p, m := range before {
		if a, ok := after[p]; ok && a&^m != 0 {
			t.Errorf("%s: mode %o after opening and writing; mod_md left %o", p, a, m)
		}
	}
	if after["ocsp"] != 0o750 {
		t.Errorf("ocsp: mode %o; want 0750 kept", after["ocsp"])
	}
}

func dirModes(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	modes := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		modes[rel] = fi.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return modes
}
