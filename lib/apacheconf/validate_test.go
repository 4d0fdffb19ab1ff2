package apacheconf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// loadText writes files (name -> content; "main.conf" is loaded) into a
// temporary ServerRoot and loads main.conf.
func loadText(t *testing.T, files map[string]string, opts Options) (*md.ParsedConfig, md.ConfigErrors, string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := Load(filepath.Join(dir, "main.conf"), opts)
	var ces md.ConfigErrors
	if err != nil && !errors.As(err, &ces) {
		t.Fatalf("Load: %v", err)
	}
	return pc, ces, dir
}

// test_300_conf_validate: mod_md's config validation, with the messages
// the Python suite looks for.
const vhost = "Listen 443\n"

// validateCases are test_300_conf_validate's configs and what mod_md says.
var validateCases = []struct {
	name, conf string
	wantErr    string // substring of one error; "" = must load
	wantWarn   string
}{
	{"001 one MD", "MDomain not-forbidden.org www.not-forbidden.org mail.not-forbidden.org\n", "", "No VirtualHost matches Managed Domain not-forbidden.org"},
	{"002 two MDs", "MDomain not-forbidden.org www.not-forbidden.org\nMDomain example2.org www.example2.org\n", "", ""},
	{"003 same MD twice", "MDomain not-forbidden.org www.not-forbidden.org\nMDomain not-forbidden.org www.not-forbidden.org\n",
		"two Managed Domains have an overlap in domain 'not-forbidden.org'", ""},
	{"004 overlap", "MDomain not-forbidden.org test3.not-forbidden.org\nMDomain example2.org test3.not-forbidden.org\n",
		"overlap in domain 'test3.not-forbidden.org'", ""},
	{"005 MD in vhost", "MDomain a.org\n<VirtualHost *:12346>\nMDomain example2.org www.example2.org\n</VirtualHost>\n", "", ""},
	{"008 overlapping vhosts", vhost + "MDomain a.org\n<VirtualHost *:12346>\nServerName example2.org\nServerAlias www.example3.org\nMDomain example2.org www.example2.org www.example3.org\n</VirtualHost>\n<VirtualHost *:12346>\nServerName www.example2.org\nServerAlias example2.org\n</VirtualHost>\n", "", ""},
	{"009 two MDs on one SSL vhost", vhost + "MDMembers manual\nMDomain not-forbidden.org www.not-forbidden.org\nMDomain example2.org www.example2.org www.example3.org\n" +
		"<VirtualHost *:12346>\nServerName example2.org\nServerAlias www.example3.org\nSSLEngine on\n</VirtualHost>\n" +
		"<VirtualHost *:12346>\nServerName not-forbidden.org\nServerAlias example2.org\nSSLEngine on\n</VirtualHost>\n",
		"conflict: 2 MDs match to SSL VirtualHost not-forbidden.org, there can at most be one.", ""},
	{"011a manual MD misses an alias", vhost + "MDomain not-forbidden.org manual www.not-forbidden.org\n<VirtualHost *:443>\nServerName not-forbidden.org\nServerAlias test4.not-forbidden.org\nSSLEngine on\n</VirtualHost>\n",
		"", "the name/alias test4.not-forbidden.org itself is not managed"},
	{"016 no key type", "MDPrivateKeys\n", "needs to specify the private key type", ""},
	{"016 default plus", "MDPrivateKeys Default RSA 1024\n", "'Default' allows no other parameter", ""},
	{"016 short rsa", "MDPrivateKeys RSA 1024\n", "must be 2048 or higher", ""},
	{"016 two rsa", "MDPrivateKeys rsa 2048 rsa 4096\n", "two keys of type 'RSA' are not possible", ""},
	{"mod_macro", "LoadModule macro_module /usr/lib/apache2/modules/mod_macro.so\n<Macro VHost $name>\n<VirtualHost *:443>\nServerName $name\n</VirtualHost>\n</Macro>\nUse VHost a.org\n", "", ""},
	{"curve md-order cannot make", "MDPrivateKeys X25519\n", "", "md-order can only make P-256, P-384, P-521 and RSA keys"},
	{"016 two curves", "MDPrivateKeys p-256 secp384r1 P-256\n", "two keys of type 'P-256' are not possible", ""},
	{"017 dec-31", "MDRenewWindow dec-31\n", "MDRenewWindow has unrecognized format", ""},
	{"017 1y", "MDRenewWindow 1y\n", "has unrecognized format", ""},
	{"017 two args", "MDRenewWindow 10 d\n", "MDRenewWindow takes one argument", ""},
	{"017 102%", "MDRenewWindow 102%\n", "a length of 100% or more is not allowed.", ""},
	{"018 no arg", "MDHttpProxy\n", "takes one argument", ""},
	{"018 no scheme", "MDHttpProxy localhost:8080\n", "scheme must be http or https", ""},
	{"018 bad port", "MDHttpProxy https://127.0.0.1:-443\n", "invalid port", ""},
	{"018 three args", "MDHttpProxy HTTP localhost 8080\n", "takes one argument", ""},
	{"019 yes", "MDRequireHTTPS yes\n", "supported parameter values are 'temporary' and 'permanent'", ""},
	{"019 no arg", "MDRequireHTTPS\n", "MDRequireHttps takes one argument", ""},
	{"020 no arg", "MDMustStaple\n", "takes one argument", ""},
	{"020 yes", "MDMustStaple yes\n", "supported parameter values are 'on' and 'off'", ""},
	{"020 true", "MDMustStaple true\n", "unknown 'true', supported parameter values are 'on' and 'off'", ""},
	{"022 in If", "MDomain secret.com\n<If \"1 == 1\">\n  MDRequireHttps temporary\n</If>\n<VirtualHost *:12344>\nServerName secret.com\n</VirtualHost>\n",
		"", "does not match any VirtualHost with 'SSLEngine on'"},
	{"023 in Directory", "MDomain secret.com\n<Directory /tmp>\n  MDRequireHttps temporary\n</Directory>\n", "MDRequireHttps cannot occur within <Directory/DirectoryMatch> section", ""},
	{"023b other MD directive in Location", "<Location /x>\nMDStapling on\n</Location>\n", "MDStapling not allowed here", ""},
	{"024 unknown CA", "MDCertificateAuthority yes\nMDRenewMode manual  # lets not contact these in testing\n", "The CA name 'yes' is not known ", ""},
	{"024 trailing comment is an argument", "MDRenewMode manual  # comment\n", "MDRenewMode takes one argument", ""},
	{"027 bad second CA", "MDCertificateAuthority letsencrypt abc\n", "The CA name 'abc' is not known", ""},
	{"027 two known", "MDCertificateAuthority letsencrypt buypass\nMDomain a.org\n", "", ""},
	{"028 alias in two MDs", vhost + "MDMembers manual\nMDomain t-a.org\nMDomain t-b.org alias.org\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName t-a.org\nServerAlias alias.org\nSSLEngine on\n</VirtualHost>\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName t-b.org\nServerAlias alias.org\nSSLEngine on\n</VirtualHost>\n",
		"conflict: 2 MDs match to SSL VirtualHost t-a.org", ""},
	{"028 servernames", vhost + "MDMatchNames servernames\nMDMembers manual\nMDomain t-a.org\nMDomain t-b.org alias.org\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName t-a.org\nServerAlias alias.org\nSSLEngine on\n</VirtualHost>\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName t-b.org\nServerAlias alias.org\nSSLEngine on\n</VirtualHost>\n", "", ""},
	{"029 wildcard overlap", vhost + "MDMembers manual\nMDomain t.org *.t.org\nMDomain sub.t.org\n", "overlap in domain", ""},
	{"029 servernames", vhost + "MDMatchNames servernames\nMDMembers manual\nMDomain t.org *.t.org\nMDomain sub.t.org\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName t.org\nSSLEngine on\n</VirtualHost>\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName another.t.org\nSSLEngine on\n</VirtualHost>\n" +
		"<VirtualHost 10.0.0.1:443>\nServerName sub.t.org\nSSLEngine on\n</VirtualHost>\n", "", ""},
	// more of mod_md's texts
	{"unknown MD directive", "MDCertificateMonitor crt.sh https://crt.sh?q=\n", "Invalid command 'MDCertificateMonitor'", ""},
	{"MDomain without names", "MDomain\n", "needs at least one domain name", ""},
	{"MDomain only auto", "MDomain auto\n", "needs at least one domain name", ""},
	{"MDCertificateFile outside", "MDCertificateFile x.pem\n", "MDCertificateFile is only valid inside a '<MDomainSet' context, not here", ""},
	{"MDPortMap in section", "<MDomain a.org>\nMDPortMap http:80\n</MDomain>\n", "MDPortMap is not allowed inside an '<MDomainSet' context", ""},
	{"nested MDomain", "<MDomain a.org>\nMDomain b.org\n</MDomain>\n", "MDomain is not allowed inside an '<MDomainSet' context", ""},
	{"MDMembers two args outside", "MDMembers a.org b.org\n", "MDMembers is only valid inside a '<MDomainSet' context, not here", ""},
	{"MDMembers bad value", "MDMembers sometimes\n", "unknown value, use \"auto|manual\"", ""},
	{"port map no colon", "MDPortMap 80\n", "no ':' after first port number", ""},
	{"port map 8080", "MDPortMap 8080:80\n", "mapped port number must be 80 or 443", ""},
	{"port map range", "MDPortMap 80:70000\n", "invalid number for port map, must be in ]0,65535]", ""},
	{"dns01 version", "MDChallengeDns01Version 3\n", "Only versions `1` and `2` are supported", ""},
	{"renew mode", "MDRenewMode sometimes\n", "unknown MDDriveMode sometimes", ""},
	{"drive mode alias", "MDDriveMode always\nMDomain a.org\n", "", ""},
	{"retry delay 0", "MDRetryDelay 0\n", "minimum delay must be greater than 0", ""},
	{"retry failover", "MDRetryFailover 0\n", "invalid argument, must be a number > 0", ""},
	{"check interval", "MDCheckInterval 500ms\n", "check interval cannot be less than one second", ""},
	{"initial delay", "MDInitialDelay -1\n", "initial delay must not be negative", ""},
	{"store locks", "MDStoreLocks sometimes\n", "neither 'on', 'off' or a duration specified", ""},
	{"match names", "MDMatchNames some\n", "invalid argument, must be a 'all' or 'servernames'", ""},
	{"stapling renew window", "MDStaplingRenewWindow 100%\n", "MDStaplingRenewWindow with a length of 100% or more is not allowed.", ""},
	{"cert check one arg", "MDCertificateCheck crt.sh\n", "MDCertificateCheck takes two arguments", ""},
	{"eab missing file", "MDExternalAccountBinding eab.json\n", "MDExternalAccountBinding: file not found: ", ""},
	{"unknown protocol", "MDCertificateProtocol tailscale\nMDomain a.org\n", "[a.org] uses unknown CA protocol 'tailscale'", ""},
	{"section missing name", "<MDomain >\n</MDomain>\n", "<MDomainSet > section must specify a unique domain name", ""},
	{"bad domain", "MDomain a..org\n", "invalid domain name", ""},
}

func TestConfValidate300(t *testing.T) {
	tests := validateCases
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc, errs, _ := loadText(t, map[string]string{"main.conf": tc.conf}, Options{})
			if tc.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
			} else if !strings.Contains(errs.Error(), tc.wantErr) {
				t.Fatalf("errors %q; want one containing %q", errs.Error(), tc.wantErr)
			}
			if tc.wantWarn != "" {
				found := false
				for _, w := range pc.Warnings {
					found = found || strings.Contains(w.Msg, tc.wantWarn)
				}
				if !found {
					t.Errorf("warnings %v; want one containing %q", pc.Warnings, tc.wantWarn)
				}
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, errs, _ := loadText(t, map[string]string{"main.conf": "MDMustStaple yes\nMDRenewWindow 1y\nMDFoo bar\n<VirtualHost *:443>\nMDStapling maybe\n"}, Options{})
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d errors, want 5:\n%s", len(lines), errs.Error())
	}
	for i, want := range []string{"main.conf:1: unknown 'yes'", "main.conf:2: ", "main.conf:3: ", "main.conf:4: <VirtualHost> was not closed.", "main.conf:5: unknown 'maybe'"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("error %d %q; want %q", i, lines[i], want)
		}
	}
}

func TestModelDetails(t *testing.T) {
	t.Run("EAB JSON file and section settings", func(t *testing.T) {
		pc, errs, dir := loadText(t, map[string]string{
			"eab.json": `{"kid": "kid-1", "hmac": "c2VjcmV0"}`,
			"main.conf": `MDExternalAccountBinding eab.json
MDStoreDir state/md
MDProfile shortlived
MDRenewViaARI off
<MDomain A.org WWW.a.org a.org manual>
  MDContactEmail mailto:ops@a.org
  MDHttpProxy http://proxy:3128
  MDCACertificateFile /etc/ssl/ca.pem
  MDStapling on
</MDomain>
`}, Options{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		r := pc.Records[0]
		if r.Name != "a.org" || !reflect.DeepEqual(r.Domains, []string{"a.org", "www.a.org"}) || r.Transitive != 0 {
			t.Errorf("name %q domains %v transitive %d", r.Name, r.Domains, r.Transitive)
		}
		if r.EAB == nil || r.EAB.KID != "kid-1" || r.EAB.HMAC != "c2VjcmV0" {
			t.Errorf("eab %+v", r.EAB)
		}
		if !reflect.DeepEqual(r.Contacts, []string{"mailto:ops@a.org"}) || r.ProxyURL != "http://proxy:3128" || r.CACerts != "/etc/ssl/ca.pem" || !r.Stapling {
			t.Errorf("section settings: %+v", r.MD)
		}
		if r.Profile != "shortlived" || r.ARIRenewals {
			t.Errorf("profile %q ari %v", r.Profile, r.ARIRenewals)
		}
		real, _ := filepath.EvalSymlinks(dir)
		if pc.StoreDir != filepath.Join(dir, "state/md") && pc.StoreDir != filepath.Join(real, "state/md") {
			t.Errorf("store dir %q", pc.StoreDir)
		}
	})
	t.Run("vhost contact when none global", func(t *testing.T) {
		pc, errs, _ := loadText(t, map[string]string{"main.conf": `Listen 443
MDomain a.org
<VirtualHost *:443>
  ServerName a.org
  ServerAdmin webmaster@a.org
  SSLEngine on
</VirtualHost>
`}, Options{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if got := pc.Records[0].Contacts; !reflect.DeepEqual(got, []string{"mailto:webmaster@a.org"}) {
			t.Errorf("contacts %v", got)
		}
	})
	t.Run("base server", func(t *testing.T) {
		pc, errs, _ := loadText(t, map[string]string{"main.conf": `Listen 443
ServerName base.org
SSLEngine on
Protocols http/1.1 acme-tls/1
MDBaseServer on
MDomain base.org
`}, Options{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		r := pc.Records[0]
		if len(r.Vhosts) != 1 || !r.Settings.BaseServer || !reflect.DeepEqual(r.Proto.ACMETLS1, []string{"base.org"}) {
			t.Errorf("vhosts %+v base %v acme-tls/1 %v", r.Vhosts, r.Settings.BaseServer, r.Proto.ACMETLS1)
		}
		if len(pc.Warnings) != 0 {
			t.Errorf("warnings %v", pc.Warnings)
		}
	})
	t.Run("settings", func(t *testing.T) {
		pc, errs, _ := loadText(t, map[string]string{"main.conf": `MDomain a.org
MDRenewMode always
MDNotifyCmd /bin/notify "two words" 'single q' a\ b
MDMessageCmd /bin/msg LOG
MDRetryDelay 5
MDRetryFailover 3
MDCheckInterval 1h
MDActivationDelay 2
MDStaplingKeepResponse 2d
MDStaplingRenewWindow 50%
MDStapleOthers off
MDCertificateCheck mycheck https://check.example/?q=
MDCertificateStatus off
MDServerStatus off
MDStoreLocks 10s
MDChallengeDns01Version 2
MDHttpProxy https://proxy.example:8443
MDPortMap http:- https:8443
Listen 8443 https
`}, Options{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		s := pc.Records[0].Settings
		f := false
		want := &md.Settings{
			NotifyCmd: []string{"/bin/notify", "two words", "single q", "a b"}, MessageCmd: []string{"/bin/msg", "LOG"},
			DNS01Version: 2, PortMap: &md.PortMap{HTTP: 0, HTTPS: 8443}, Reachable: &md.Reachable{HTTP: false, HTTPS: true},
			ActivationDelay: "2d", RetryDelay: "5s", RetryFailover: 3, CheckInterval: "1h", HTTPProxy: "https://proxy.example:8443",
			StaplingRenewWindow: "50%", StaplingKeepResponse: "2d", StapleOthers: &f,
			CertificateCheck: &md.CertCheck{Name: "mycheck", URL: "https://check.example/?q="}, CertificateStatus: &f, ServerStatus: &f,
			MatchNames: "all", StoreLocks: "10s",
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("settings\n got %+v\nwant %+v", s, want)
		}
		if pc.Records[0].RenewMode != md.RenewAlways || len(pc.Warnings) != 1 || !strings.Contains(pc.Warnings[0].Msg, "None of the ACME challenge methods") {
			t.Errorf("renew mode %d warnings %v", pc.Records[0].RenewMode, pc.Warnings)
		}
	})
}

func TestTokenizeArgv(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"/bin/cmd", []string{"/bin/cmd"}},
		{`  a   b	c `, []string{"a", "b", "c"}},
		{`"a b" 'c d'`, []string{"a b", "c d"}},
		{`a\ b`, []string{"a b"}},
		{`"it\"s"`, []string{`it"s`}},
		{`x\\y`, []string{`x\y`}},
		{`mid"quote`, []string{`mid"quote`}},
	}
	for _, tc := range tests {
		if got := TokenizeArgv(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("TokenizeArgv(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
