package apacheconf

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/apacheconf")

const testdataDir = "../../testdata/apacheconf"

// render prints what Load returned in a stable text form: errors,
// warnings, then one JSON record per line, with the testdata directory
// removed from file names.
func render(t *testing.T, pc *md.ParsedConfig, err error) string {
	t.Helper()
	abs, _ := filepath.Abs(testdataDir)
	var b strings.Builder
	var ces md.ConfigErrors
	if errors.As(err, &ces) {
		for _, e := range ces {
			b.WriteString("error: " + e.Error() + "\n")
		}
	} else if err != nil {
		b.WriteString("error: " + err.Error() + "\n")
	}
	if pc != nil {
		for _, w := range pc.Warnings {
			b.WriteString("warning: " + w.Error() + "\n")
		}
		if pc.StoreDir != "" {
			b.WriteString("store-dir: " + pc.StoreDir + "\n")
		}
		for _, r := range pc.Records {
			j, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	return strings.ReplaceAll(b.String(), abs+"/", "")
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(testdataDir, "*.conf"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no test configs: %v", err)
	}
	cases = append(cases, filepath.Join(testdataDir, "debian", "apache2.conf"))
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".conf")
		if strings.Contains(c, "debian") {
			name = "debian"
		}
		t.Run(name, func(t *testing.T) {
			opts := Options{}
			if strings.HasPrefix(name, "sample") {
				// its ServerRoot is relative to where the samples were made
				opts.ServerRoot = testdataDir
			}
			pc, err := Load(c, opts)
			got := render(t, pc, err)
			golden := filepath.Join(testdataDir, name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestSampleMatchesModMD checks the records for the config that produced
// the real mod_md samples against the md.json mod_md wrote, except
// ca.account, ca.url (the CA in effect) and state, which come from the store.
func TestSampleMatchesModMD(t *testing.T) {
	pc, err := Load(filepath.Join(testdataDir, "sample-apache-httpd.conf"), Options{ServerRoot: testdataDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Records) != 2 {
		t.Fatalf("got %d records, want 2", len(pc.Records))
	}
	for i, name := range []string{"a1.test", "a2.test"} {
		// The md.json files Apache's mod_md wrote for this config (copied
		// from the reference samples into testdata/md).
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "md", "domains-"+name+"-md.json"))
		if err != nil {
			t.Fatal(err)
		}
		var want md.MD
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got := pc.Records[i].MD
		want.CA.Account, want.CA.URL = "", ""
		got.State, want.State = 0, 0
		got.StateDescr, want.StateDescr = "", ""
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s:\n got %s\nwant %s", name, gj, wj)
		}
	}
}

// TestApacheAcceptsValidConfigs runs the real Debian apache2 -t on the
// testdata configs md-parse accepts, with its own ServerRoot; no system
// file is read or written besides the module .so files.
func TestApacheAcceptsValidConfigs(t *testing.T) {
	bin := "/usr/sbin/apache2"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("apache2 not installed (scripts/test-deps installs it): %v", err)
	}
	tmp := t.TempDir()
	prelude := `ServerRoot "` + tmp + `"
PidFile ` + tmp + `/httpd.pid
DefaultRuntimeDir ` + tmp + `
ErrorLog ` + tmp + `/error.log
ServerName localhost
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
LoadModule md_module /usr/lib/apache2/modules/mod_md.so
`
	cases, _ := filepath.Glob(filepath.Join(testdataDir, "s[0-9]*.conf"))
	for _, c := range cases {
		if _, err := Load(c, Options{}); err != nil {
			continue // apache must reject those too: see TestApacheRejects
		}
		body, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(tmp, filepath.Base(c))
		if err := os.WriteFile(conf, []byte(prelude+string(body)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-d", tmp, "-f", conf, "-t").CombinedOutput()
		if err != nil {
			t.Errorf("%s: apache2 -t: %v\n%s", filepath.Base(c), err, out)
		}
	}
	deb, _ := filepath.Abs(filepath.Join(testdataDir, "debian"))
	out, err := exec.Command(bin, "-d", deb, "-f", "apache2.conf", "-t").CombinedOutput()
	if err != nil {
		t.Errorf("debian tree: apache2 -t: %v\n%s", err, out)
	}
}

func TestDebianTree(t *testing.T) {
	pc, err := Load(filepath.Join(testdataDir, "debian", "apache2.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range pc.Records {
		names = append(names, r.Name)
	}
	if want := []string{"example.com", "shop.example.net"}; !reflect.DeepEqual(names, want) {
		t.Errorf("MDs %v; want %v (disabled.conf is not in sites-enabled)", names, want)
	}
	if pc.StoreDir != "/var/lib/mdtools-test-store" {
		t.Errorf("store dir %q", pc.StoreDir)
	}
	ex := pc.Records[0]
	if !reflect.DeepEqual(ex.Domains, []string{"example.com", "www.example.com"}) || len(ex.Vhosts) != 2 {
		t.Errorf("example.com: domains %v, %d vhosts", ex.Domains, len(ex.Vhosts))
	}
	if got := ex.Settings.NotifyCmd; !reflect.DeepEqual(got, []string{"/usr/local/sbin/md-notify", "--to", "ops team"}) {
		t.Errorf("notify cmd %q", got)
	}
	if !ex.Settings.Reachable.HTTP || !ex.Settings.Reachable.HTTPS {
		t.Errorf("reachable %+v", ex.Settings.Reachable)
	}
	// Without mod_ssl, ports.conf has no Listen 443 and the SSL vhosts are gone.
	pc, err = Load(filepath.Join(testdataDir, "debian", "apache2.conf"), Options{Modules: []string{"md"}})
	if err != nil {
		t.Fatal(err)
	}
	// ssl.load is still LoadModule'd by mods-enabled, so ssl_module is loaded.
	if !pc.Records[0].Settings.Reachable.HTTPS {
		t.Errorf("LoadModule ssl_module should count as loaded")
	}
}
