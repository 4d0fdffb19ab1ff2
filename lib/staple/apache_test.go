package staple

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// TestApacheModMDStaplesOurResponse: Apache httpd with mod_md, pointed at
// a store md-staple filled, staples the response md-staple fetched, while
// the OCSP responder is down (mod_md's promise: a restart during a CA
// outage still staples). This proves the ocsp/<md>/ocsp-<id>.json files
// are mod_md's format.
func TestApacheModMDStaplesOurResponse(t *testing.T) {
	const apacheBin = "/usr/sbin/apache2"
	if _, err := os.Stat(apacheBin); err != nil {
		t.Fatalf("Debian apache2 is needed (scripts/test-deps installs it): %v", err)
	}
	fx := pebble(t)
	root := t.TempDir()
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	storeDir := filepath.Join(root, "md")
	st, err := store.Open(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	rec := fx.install(t, st, "good.test", "good.test")
	rec.CA = &md.CA{Proto: md.ProtoACME, URL: fx.ca.DirectoryURL, URLs: []string{fx.ca.DirectoryURL}}
	rec.RenewMode = md.RenewManual
	if err := st.SaveMD(store.GroupDomains, &rec.MD); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveKey(store.GroupDomains, "good.test", "privkey.pem", fx.keys["good.test"]); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Store: st, Notifier: (&events{}).notifier}
	if err := r.Run(context.Background(), r.SetsFromRecords([]*md.Record{rec})); err != nil || rec.Error != nil {
		t.Fatalf("md-staple: %v %v", err, rec.Error)
	}
	stored, ok, err := LoadResponse(st, "good.test", entry(t, rec, "rsa").ID)
	if !ok || err != nil {
		t.Fatalf("no stored response: %v", err)
	}
	want, _ := stored.DER()

	fx.responder.SetDown(true)
	defer fx.responder.SetDown(false)
	ports, err := devca.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"logs", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	caFile := filepath.Join(root, "acme-ca.pem")
	if err := os.WriteFile(caFile, fx.ca.RootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "User www-data\nGroup www-data\n"
	}
	mods := "/usr/lib/apache2/modules/"
	conf := fmt.Sprintf(`ServerRoot "%[1]s"
DefaultRuntimeDir "%[1]s/run"
PidFile "%[1]s/run/httpd.pid"
Mutex file:%[1]s/run default
ErrorLog "%[1]s/logs/error_log"
LogLevel warn md:debug
ServerName localhost
%[2]sLoadModule mpm_event_module %[3]smod_mpm_event.so
LoadModule authz_core_module %[3]smod_authz_core.so
LoadModule socache_shmcb_module %[3]smod_socache_shmcb.so
LoadModule ssl_module %[3]smod_ssl.so
LoadModule md_module %[3]smod_md.so
Listen 127.0.0.1:%[4]d
Listen 127.0.0.1:%[5]d https
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
MDStoreDir %[8]s
MDCertificateAuthority %[6]s
MDCACertificateFile %[7]s
MDCertificateAgreement accepted
MDPortMap http:%[4]d https:%[5]d
MDRenewMode manual
<MDomain good.test>
    MDStapling on
</MDomain>
<VirtualHost 127.0.0.1:%[5]d>
    ServerName good.test
    SSLEngine on
</VirtualHost>
`, root, user, mods, ports[0], ports[1], fx.ca.DirectoryURL, caFile, storeDir)
	confFile := filepath.Join(root, "httpd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) error {
		cmd := exec.Command(apacheBin, append([]string{"-d", root, "-f", confFile}, args...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(root, "logs", "error_log"))
			return fmt.Errorf("apache2 %v: %v\n%s\nerror_log:\n%s", args, err, out, log)
		}
		return nil
	}
	if err := ctl("-k", "start"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = ctl("-k", "stop")
		pidFile := filepath.Join(root, "run", "httpd.pid")
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(pidFile); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	}()
	var got []byte
	var lastErr error
	for i := 0; i < 100; i++ {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(ports[1]),
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
	if string(got) != string(want) {
		log, _ := os.ReadFile(filepath.Join(root, "logs", "error_log"))
		t.Fatalf("Apache stapled %d bytes (%v); want md-staple's %d-byte response\nerror_log:\n%s", len(got), lastErr, len(want), log)
	}
}
