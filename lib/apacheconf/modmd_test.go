package apacheconf

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var listenRE = regexp.MustCompile(`(?mi)^(\s*Listen\s+)(?:\S+:)?(\d+)(.*)$`)

// runModMD starts the real Apache httpd with mod_md on conf (Listen lines
// moved to free loopback ports, the store in a temporary directory, an
// unreachable CA unless the config names one) and returns the md.json
// files mod_md wrote for names. ok is false when httpd refused to start.
func runModMD(t *testing.T, conf string, names []string) (map[string]md.MD, bool, string) {
	t.Helper()
	return runModMDFiles(t, map[string]string{"main.conf": conf}, nil, names)
}

// runModMDFiles is runModMD with more files in the ServerRoot and -D defines.
func runModMDFiles(t *testing.T, files map[string]string, defines []string, names []string) (map[string]md.MD, bool, string) {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		if name == "main.conf" {
			continue
		}
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := files["main.conf"]
	body := listenRE.ReplaceAllStringFunc(conf, func(l string) string {
		m := listenRE.FindStringSubmatch(l)
		return fmt.Sprintf("%s127.0.0.1:%d%s", m[1], freePort(t), m[3])
	})
	prelude := fmt.Sprintf(`ServerRoot "%[1]s"
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
ErrorLog %[1]s/error.log
LogLevel warn
Mutex file:%[1]s default
ServerName localhost
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
LoadModule md_module /usr/lib/apache2/modules/mod_md.so
MDStoreDir %[1]s/md
MDCertificateAuthority http://127.0.0.1:9/directory
`, root)
	if !listenRE.MatchString(conf) {
		prelude += fmt.Sprintf("Listen 127.0.0.1:%d\n", freePort(t)) // httpd needs one socket
	}
	path := filepath.Join(root, "httpd.conf")
	if err := os.WriteFile(path, []byte(prelude+body), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-d", root, "-f", path, "-D", "FOREGROUND"}
	for _, d := range defines {
		args = append(args, "-D", d)
	}
	cmd := exec.Command("/usr/sbin/apache2", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	got := map[string]md.MD{}
	deadline := time.Now().Add(60 * time.Second) // fallback keys (RSA 4096) take a while on a busy machine
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(root, "error.log"))
			return nil, false, out.String() + string(log)
		default:
		}
		for _, n := range names {
			if _, ok := got[n]; ok {
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, "md", "domains", n, "md.json"))
			if err != nil {
				continue
			}
			var m md.MD
			if json.Unmarshal(b, &m) == nil {
				got[n] = m
			}
		}
		if len(got) == len(names) && (len(names) > 0 || time.Since(deadline.Add(-60*time.Second)) > 3*time.Second) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	log, _ := os.ReadFile(filepath.Join(root, "error.log"))
	return got, true, string(log)
}

// comparable drops what only the store decides: the account, the CA in
// effect and the state.
func comparable(m md.MD) string {
	if m.CA != nil {
		c := *m.CA
		c.Account, c.URL = "", ""
		m.CA = &c
	}
	m.State, m.StateDescr = 0, ""
	m.CertFiles, m.PKeyFiles = nil, nil // absolute paths below different roots
	b, _ := json.Marshal(m)
	return string(b)
}

// TestModMDDerivesTheSame runs each valid testdata config through the
// real Apache mod_md and compares the md.json it writes with our records:
// the acceptance check that md-parse derives what mod_md derives.
func TestModMDDerivesTheSame(t *testing.T) {
	if _, err := os.Stat("/usr/lib/apache2/modules/mod_md.so"); err != nil {
		t.Fatalf("apache2 with mod_md not installed (scripts/test-deps installs it): %v", err)
	}
	cases, _ := filepath.Glob(filepath.Join(testdataDir, "s[0-9]*.conf"))
	extra := map[string]string{
		"contacts-and-members": `ServerAdmin mailto:root@example.org
Listen 443
MDMembers manual
MDomain m.org www.m.org
MDomain auto.org auto
<VirtualHost *:443>
  ServerName auto.org
  ServerAlias www.auto.org *.wild.auto.org
  ServerAdmin vhost@auto.org
  SSLEngine on
</VirtualHost>
<VirtualHost *:443>
  ServerName m.org
  ServerAlias other.m.org
  SSLEngine on
</VirtualHost>
`,
		"section-settings": `Listen 80
MDRenewWindow 20d
MDWarnWindow 5%
MDMustStaple on
MDProfile classic
<MDomain sec.org www.sec.org>
  MDContactEmail ops@sec.org
  MDRenewMode always
  MDPrivateKeys P-256 RSA3072
  MDRequireHttps permanent
  MDStapling on
  MDRenewViaARI off
  MDProfileMandatory on
  MDCAChallenges http-01 dns-01
  MDChallengeDns01 /usr/bin/true
  MDExternalAccountBinding kid-1 aGVsbG8
  MDCertificateAgreement accepted
</MDomain>
`,
		"global-sslengine": `Listen 443
ServerName g.org
SSLEngine on
Protocols h2 http/1.1 acme-tls/1
MDBaseServer on
MDomain g.org
<VirtualHost *:443>
  ServerName www.g.org
  ServerAlias g.org
</VirtualHost>
<VirtualHost *:443>
  ServerName plain.g.org
  ServerAlias g.org
  SSLEngine off
</VirtualHost>
`,
		"vhost-details": `Listen 443
ServerName base.v.org
MDomain v.org a.w.org
MDomain base.v.org
MDomain p.org
<VirtualHost *:443>
  ServerName v.org
  ServerAdmin first@v.org
  SSLEngine on
</VirtualHost>
<VirtualHost *:443>
  ServerName www.v.org
  ServerAlias v.org
  MDContactEmail second@v.org
  SSLEngine on
</VirtualHost>
<VirtualHost *:443>
  ServerName x.w.org
  ServerAlias *.w.org
  SSLEngine on
</VirtualHost>
<VirtualHost *:443>
  SSLEngine on
</VirtualHost>
<VirtualHost 127.0.0.1:443>
  ServerName https://p.org:443
  ServerAlias alias.p.org
  SSLEngine on
</VirtualHost>
`,
		"vhost-level-settings": `Listen 443
MDomain vs.org
<VirtualHost *:443>
  ServerName vs.org
  SSLEngine on
  MDRenewMode always
  MDPrivateKeys secp384r1
  MDRenewWindow 10d
  MDStapling on
  MDMustStaple on
  MDMembers manual
  MDCAChallenges dns-01
  MDomain in-vhost.org
  MDPortMap http:8080
</VirtualHost>
`,
		"servernames": `Listen 443
MDMatchNames servernames
MDomain t.org *.t.org
MDomain sub.t.org
<VirtualHost *:443>
  ServerName another.t.org
  SSLEngine on
  Protocols acme-tls/1
</VirtualHost>
<VirtualHost *:443>
  ServerName sub.t.org
  SSLEngine on
</VirtualHost>
`,
	}
	type tc struct{ name, conf string }
	var all []tc
	for _, c := range cases {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, tc{strings.TrimSuffix(filepath.Base(c), ".conf"), string(b)})
	}
	for n, c := range extra {
		all = append(all, tc{n, c})
	}
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Our reading of the same text, in a root of its own.
			pc, errs, _ := loadText(t, map[string]string{"main.conf": "MDCertificateAuthority http://127.0.0.1:9/directory\n" + c.conf}, Options{})
			var names []string
			for _, r := range pc.Records {
				names = append(names, r.Name)
			}
			got, started, log := runModMD(t, c.conf, names)
			if len(errs) > 0 {
				if started {
					t.Errorf("we report %v, but httpd started", errs)
				}
				t.Logf("both reject: %v", errs)
				return
			}
			if !started {
				if strings.Contains(c.name, "static") {
					// mod_ssl needs the static files to exist; we do not
					// ship certificates for them.
					t.Logf("httpd needs the static files: %.300s", log)
					return
				}
				t.Fatalf("httpd did not start:\n%s", log)
			}
			for _, r := range pc.Records {
				m, ok := got[r.Name]
				if !ok {
					t.Errorf("mod_md wrote no md.json for %s\n%s", r.Name, log)
					continue
				}
				t.Logf("%s: compared with mod_md's md.json", r.Name)
				if a, b := comparable(r.MD), comparable(m); a != b {
					t.Errorf("%s:\n ours   %s\n mod_md %s", r.Name, a, b)
				}
			}
		})
	}
}

// TestConfValidateAgainstHttpd: every test_300 config we reject, httpd
// with mod_md refuses to start with; every one we accept, it starts with.
func TestConfValidateAgainstHttpd(t *testing.T) {
	for _, tc := range validateCases {
		if strings.Contains(tc.conf, "eab.json") {
			continue
		}
		if tc.name == "bad domain" {
			// Deliberately stricter: mod_md accepts "a..org" and fails
			// when ordering; an MD name becomes a store path, so we
			// validate it up front.
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pc, errs, _ := loadText(t, map[string]string{"main.conf": "MDCertificateAuthority http://127.0.0.1:9/directory\n" + tc.conf}, Options{})
			var names []string
			for _, r := range pc.Records {
				names = append(names, r.Name)
			}
			_, started, log := runModMD(t, tc.conf, names)
			switch {
			case len(errs) > 0 && started:
				t.Errorf("we report %v, but httpd started", errs)
			case len(errs) == 0 && !started:
				t.Errorf("we accept it, but httpd did not start:\n%s", log)
			}
		})
	}
}

// TestSyntaxAgainstHttpd: the MDs (and their names) we read from each
// syntax case are the ones httpd+mod_md reads from it.
func TestSyntaxAgainstHttpd(t *testing.T) {
	t.Setenv("MDPARSE_TEST_ENV", "env.org")
	for _, tc := range syntaxCases {
		if tc.opts.Modules != nil || tc.opts.Version != "" || strings.Contains(strings.Join(tc.opts.Defines, ""), "=") {
			continue // httpd has no such switches
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Version = "2.4.71" // the installed apache2
			pc, errs, _ := loadText(t, tc.files, opts)
			if tc.wantErr != "" {
				if _, started, _ := runModMDFiles(t, tc.files, tc.opts.Defines, nil); started {
					t.Errorf("we report %v, but httpd started", errs)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var names []string
			want := map[string]string{}
			for _, r := range pc.Records {
				names = append(names, r.Name)
				want[r.Name] = strings.Join(r.Domains, ",")
			}
			got, started, log := runModMDFiles(t, tc.files, tc.opts.Defines, names)
			if !started {
				t.Fatalf("httpd did not start:\n%s", log)
			}
			for n, d := range want {
				if m, ok := got[n]; !ok || strings.Join(m.Domains, ",") != d {
					t.Errorf("%s: ours %s, mod_md %v (found %v)", n, d, m.Domains, ok)
				}
			}
		})
	}
}
