package challenge

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestApacheServesOurChallenges: Apache httpd's own mod_md, pointed at a
// store this package wrote, answers http-01 and tls-alpn-01 with our files:
// the store layout is mod_md's.
func TestApacheServesOurChallenges(t *testing.T) {
	srv := apachetest.New(t, apachetest.Options{Ports: 2, Modules: []string{"mpm_event", "authz_core", "socache_shmcb", "ssl", "md"},
		Config: func(s *apachetest.Server) string {
			return fmt.Sprintf(`LogLevel warn md:trace2 ssl:info
ServerName localhost
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
MDStoreDir "%[1]s/md"
MDCertificateAuthority https://127.0.0.1:1/dir
MDCertificateAgreement accepted
MDContactEmail admin@example.org
MDPortMap http:%[2]d https:%[3]d
MDRenewMode manual
<MDomain ap.test>
</MDomain>
<VirtualHost 127.0.0.1:%[3]d>
    ServerName ap.test
    SSLEngine on
    Protocols acme-tls/1 http/1.1
</VirtualHost>
`, s.Root, s.Ports[0], s.Ports[1])
		}})
	httpPort, httpsPort := srv.Ports[0], srv.Ports[1]
	storeDir := filepath.Join(srv.Root, "md")
	st, err := store.Open(t.Context(), storeDir)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()

	// Set up after Apache started: mod_md purges unknown challenge dirs at startup.
	m := newManager(t, st, Options{})
	rec := tlsRecord(nil, "ap.test")
	ctx := context.Background()
	for _, typ := range []string{HTTP01, TLSALPN01} {
		if err := m.Setup(ctx, rec, Task{typ, "ap.test", testToken, testKeyAuth}); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// mod_md made challenges/ its worker's at startup; our files
		// (keys are 0600) must follow, or Apache answers with its fallback.
		u, err := user.Lookup(apachetest.User)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"", "acme-tls-alpn-01-privkey.pem", "acme-http-01.txt"} {
			fi, err := os.Stat(filepath.Join(storeDir, "challenges", "ap.test", f))
			if err != nil {
				t.Fatal(err)
			}
			if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != u.Uid {
				t.Errorf("challenges/ap.test/%s owned by uid %d; want www-data (%s)", f, uid, u.Uid)
			}
		}
	}

	var body []byte
	var status int
	for i := 0; i < 100; i++ { // Apache may still be starting its children
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(httpPort)+WellKnownPrefix+testToken, nil)
		req.Host = "ap.test"
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status != 200 || string(body) != testKeyAuth {
		t.Errorf("Apache http-01: %d %q; want 200 %q", status, body, testKeyAuth)
	}

	conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(httpsPort),
		&tls.Config{ServerName: "ap.test", NextProtos: []string{ACMETLS1}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("Apache tls-alpn-01 handshake: %v", err)
	}
	defer conn.Close()
	cs := conn.ConnectionState()
	want, err := st.LoadChain(ctx, store.GroupChallenges, "ap.test", "acme-tls-alpn-01-pubcert.pem")
	if err != nil {
		t.Fatal(err)
	}
	if cs.NegotiatedProtocol != ACMETLS1 || !bytes.Equal(cs.PeerCertificates[0].Raw, want[0].Raw) {
		t.Errorf("Apache answered acme-tls/1=%q with %v; want our challenge certificate", cs.NegotiatedProtocol, cs.PeerCertificates[0].Subject)
	}
	if !strings.EqualFold(md.KeySpec{Type: md.KeyDefault}.FileName("pubcert"), "pubcert.pem") {
		t.Error("default key spec file name changed")
	}
}
