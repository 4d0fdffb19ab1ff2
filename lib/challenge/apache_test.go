package challenge

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

const apacheBin = "/usr/sbin/apache2"

// TestApacheServesOurChallenges: Apache httpd's own mod_md, pointed at a
// store this package wrote, answers http-01 and tls-alpn-01 with our files:
// the store layout is mod_md's.
func TestApacheServesOurChallenges(t *testing.T) {
	root := t.TempDir()
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755) // the worker user must reach the store
	}
	for _, d := range []string{"logs", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	storeDir := filepath.Join(root, "md")
	st, err := store.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := devca.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, httpsPort := ports[0], ports[1]
	userConf := ""
	if os.Geteuid() == 0 {
		userConf = "User www-data\nGroup www-data\n"
	}
	mods := "/usr/lib/apache2/modules/"
	conf := fmt.Sprintf(`ServerRoot "%[1]s"
DefaultRuntimeDir "%[1]s/run"
PidFile "%[1]s/run/httpd.pid"
Mutex file:%[1]s/run default
ErrorLog "%[1]s/logs/error_log"
LogLevel warn md:trace2 ssl:info
ServerName localhost
%[2]sLoadModule mpm_event_module %[3]smod_mpm_event.so
LoadModule authz_core_module %[3]smod_authz_core.so
LoadModule socache_shmcb_module %[3]smod_socache_shmcb.so
LoadModule ssl_module %[3]smod_ssl.so
LoadModule md_module %[3]smod_md.so
Listen 127.0.0.1:%[4]d
Listen 127.0.0.1:%[5]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
MDStoreDir "%[6]s"
MDCertificateAuthority https://127.0.0.1:1/dir
MDCertificateAgreement accepted
MDContactEmail admin@example.org
MDPortMap http:%[4]d https:%[5]d
MDRenewMode manual
<MDomain ap.test>
</MDomain>
<VirtualHost 127.0.0.1:%[5]d>
    ServerName ap.test
    SSLEngine on
    Protocols acme-tls/1 http/1.1
</VirtualHost>
`, root, userConf, mods, httpPort, httpsPort, storeDir)
	confFile := filepath.Join(root, "httpd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(root, "logs", "error_log"))
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		return string(b)
	}
	ctl := func(args ...string) error {
		cmd := exec.Command(apacheBin, append([]string{"-d", root, "-f", confFile}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apache2 %v: %v\n%s", args, err, out)
		}
		return nil
	}
	if err := ctl("-k", "start"); err != nil {
		t.Fatalf("%v\nerror_log:\n%s", err, errorLog())
	}
	t.Cleanup(func() {
		_ = ctl("-k", "stop")
		pidFile := filepath.Join(root, "run", "httpd.pid")
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(pidFile); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("error_log:\n%s", errorLog())
		}
	})

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
		u, err := user.Lookup("www-data")
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
	want, err := st.LoadChain(store.GroupChallenges, "ap.test", "acme-tls-alpn-01-pubcert.pem")
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
