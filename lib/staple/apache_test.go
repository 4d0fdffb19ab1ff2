package staple

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestApacheModMDStaplesOurResponse: Apache httpd with mod_md, pointed at
// a store md-staple filled, staples the response md-staple fetched, while
// the OCSP responder is down (mod_md's promise: a restart during a CA
// outage still staples). This proves the ocsp/<md>/ocsp-<id>.json files
// are mod_md's format.
func TestApacheModMDStaplesOurResponse(t *testing.T) {
	fx := pebble(t)
	// the config only names the store: Apache starts after md-staple filled it
	srv := apachetest.New(t, apachetest.Options{Ports: 2, Modules: []string{"mpm_event", "authz_core", "socache_shmcb", "ssl", "md"},
		Config: func(s *apachetest.Server) string {
			caFile := filepath.Join(s.Root, "acme-ca.pem")
			if err := os.WriteFile(caFile, fx.ca.RootsPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf(`LogLevel warn md:debug
ServerName localhost
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
MDStoreDir %[1]s/md
MDCertificateAuthority %[4]s
MDCACertificateFile %[5]s
MDCertificateAgreement accepted
MDPortMap http:%[2]d https:%[3]d
MDRenewMode manual
<MDomain good.test>
    MDStapling on
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName good.test
    SSLEngine on
</VirtualHost>
`, s.Root, s.Ports[0], s.Ports[1], fx.ca.DirectoryURL, caFile)
		}})
	storeDir := filepath.Join(srv.Root, "md")
	st, err := store.Open(t.Context(), storeDir)
	if err != nil {
		t.Fatal(err)
	}
	rec := fx.install(t, st, "good.test", "good.test")
	rec.CA = &md.CA{Proto: md.ProtoACME, URL: fx.ca.DirectoryURL, URLs: []string{fx.ca.DirectoryURL}}
	rec.RenewMode = md.RenewManual
	if err := st.SaveMD(t.Context(), store.GroupDomains, &rec.MD); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveKey(t.Context(), store.GroupDomains, "good.test", "privkey.pem", fx.keys["good.test"]); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Store: st, Notifier: (&events{}).notifier}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil || rec.Error != nil {
		t.Fatalf("md-staple: %v %v", err, rec.Error)
	}
	stored, ok, err := LoadResponse(t.Context(), st, "good.test", entry(t, rec, "rsa").ID)
	if !ok || err != nil {
		t.Fatalf("no stored response: %v", err)
	}
	want, _ := stored.DER()

	fx.responder.SetDown(true)
	defer fx.responder.SetDown(false)
	srv.Start()
	var got []byte
	var lastErr error
	for i := 0; i < 100; i++ {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(srv.Ports[1]),
			&tls.Config{ServerName: "good.test", InsecureSkipVerify: true})
		if err == nil {
			got = conn.ConnectionState().OCSPResponse
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if !leaf.Equal(fx.chains["good.test"][0]) {
				t.Fatalf("Apache serves another certificate: %s", leaf.Subject)
			}
			if len(got) > 0 {
				break
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	if string(got) != string(want) { // Stop logs error_log
		t.Fatalf("Apache stapled %d bytes (%v); want md-staple's %d-byte response", len(got), lastErr, len(want))
	}
}
