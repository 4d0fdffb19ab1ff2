package apacheconf

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
)

// names returns the MD names and the first error text.
func names(t *testing.T, files map[string]string, opts Options) ([]string, string) {
	t.Helper()
	pc, errs, _ := loadText(t, files, opts)
	var ns []string
	for _, r := range pc.Records {
		ns = append(ns, strings.Join(r.Domains, ","))
	}
	e := ""
	if len(errs) > 0 {
		e = errs.Error()
	}
	return ns, e
}

var syntaxCases = []struct {
	name    string
	files   map[string]string
	opts    Options
	want    []string
	wantErr string
}{
	{"case-insensitive names", map[string]string{"main.conf": "mdomain a.org\nMDOMAIN b.org\n"}, Options{}, []string{"a.org", "b.org"}, ""},
	{"quotes and escapes", map[string]string{"main.conf": `MDomain "a.org" 'b.a.org' c.a.org` + "\n"}, Options{}, []string{"a.org,b.a.org,c.a.org"}, ""},
	{"continuation", map[string]string{"main.conf": "MDomain a.org \\\n  www.a.org\n"}, Options{}, []string{"a.org,www.a.org"}, ""},
	{"comments and blanks", map[string]string{"main.conf": "# MDomain x.org\n\n   # indented\nMDomain a.org\n"}, Options{}, []string{"a.org"}, ""},
	{"CRLF", map[string]string{"main.conf": "MDomain a.org\r\nMDomain b.org\r\n"}, Options{}, []string{"a.org", "b.org"}, ""},
	{"blanks around lines", map[string]string{"main.conf": "\t MDomain a.org \t\r\n\vMDomain\tb.org\f\n  MDomain c.org \\\r\n\t www.c.org\r\n"}, Options{}, []string{"a.org", "b.org", "c.org,www.c.org"}, ""},
	{"names lower-cased and deduplicated", map[string]string{"main.conf": "MDomain WWW.A.org www.a.org A.org\n"}, Options{}, []string{"www.a.org,a.org"}, ""},
	{"Define and ${VAR}", map[string]string{"main.conf": "Define DOM a.org\nMDomain ${DOM} www.${DOM}\n"}, Options{}, []string{"a.org,www.a.org"}, ""},
	{"environment", map[string]string{"main.conf": "MDomain ${MDPARSE_TEST_ENV}\n"}, Options{}, []string{"env.org"}, ""},
	{"-D NAME=VALUE", map[string]string{"main.conf": "MDomain ${D}\n"}, Options{Defines: []string{"D=d.org"}}, []string{"d.org"}, ""},
	{"UnDefine", map[string]string{"main.conf": "Define X\nUnDefine X\n<IfDefine X>\nMDomain x.org\n</IfDefine>\n<IfDefine !X>\nMDomain notx.org\n</IfDefine>\n"}, Options{}, []string{"notx.org"}, ""},
	{"IfDefine -D", map[string]string{"main.conf": "<IfDefine SSL>\nMDomain ssl.org\n</IfDefine>\n"}, Options{Defines: []string{"SSL"}}, []string{"ssl.org"}, ""},
	{"IfModule default set", map[string]string{"main.conf": "<IfModule mod_ssl.c>\nMDomain a.org\n</IfModule>\n<IfModule !md_module>\nMDomain b.org\n</IfModule>\n<IfModule rewrite_module>\nMDomain c.org\n</IfModule>\n"}, Options{}, []string{"a.org"}, ""},
	{"IfModule --module", map[string]string{"main.conf": "<IfModule ssl>\nMDomain a.org\n</IfModule>\n<IfModule rewrite_module>\nMDomain c.org\n</IfModule>\n"}, Options{Modules: []string{"rewrite"}}, []string{"c.org"}, ""},
	{"IfModule LoadModule", map[string]string{"main.conf": "LoadModule rewrite_module x.so\n<IfModule mod_rewrite.c>\nMDomain c.org\n</IfModule>\n"}, Options{Modules: []string{}}, []string{"c.org"}, ""},
	{"IfFile", map[string]string{"main.conf": "<IfFile there.txt>\nMDomain a.org\n</IfFile>\n<IfFile !nothere.txt>\nMDomain b.org\n</IfFile>\n", "there.txt": "x"}, Options{}, []string{"a.org", "b.org"}, ""},
	{"IfVersion", map[string]string{"main.conf": "<IfVersion >= 2.4>\nMDomain a.org\n</IfVersion>\n<IfVersion < 2.4.10>\nMDomain b.org\n</IfVersion>\n<IfVersion = 2.4.66>\nMDomain c.org\n</IfVersion>\n<IfVersion ~ ^2\\.4\\.6>\nMDomain d.org\n</IfVersion>\n<IfVersion !~ ^2\\.2>\nMDomain e.org\n</IfVersion>\n"}, Options{}, []string{"a.org", "c.org", "d.org", "e.org"}, ""},
	{"IfVersion configured", map[string]string{"main.conf": "<IfVersion < 2.4.10>\nMDomain b.org\n</IfVersion>\n"}, Options{Version: "2.4.7"}, []string{"b.org"}, ""},
	{"nested conditionals", map[string]string{"main.conf": "<IfModule ssl_module>\n<IfDefine !NOPE>\n<IfVersion >= 2.4>\nMDomain a.org\n</IfVersion>\n</IfDefine>\n</IfModule>\n"}, Options{}, []string{"a.org"}, ""},
	{"Include file", map[string]string{"main.conf": "Include sub/one.conf\n", "sub/one.conf": "MDomain one.org\n"}, Options{}, []string{"one.org"}, ""},
	{"Include directory sorted", map[string]string{"main.conf": "Include d\n", "d/b.conf": "MDomain b.org\n", "d/a.conf": "MDomain a.org\n", "d/sub/c.txt": "MDomain c.org\n"}, Options{}, []string{"a.org", "b.org", "c.org"}, ""},
	{"Include glob order", map[string]string{"main.conf": "Include sites/*.conf\nMDMembers manual\n",
		"sites/B.conf": "MDomain upper.org\n", "sites/a.conf": "MDomain a.org\n", "sites/.hidden.conf": "MDomain hidden.org\n", "sites/x.txt": "MDomain x.org\n"},
		Options{}, []string{"a.org", "upper.org"}, ""},
	{"glob in directory part", map[string]string{"main.conf": "IncludeOptional vhosts/*/md.conf\n", "vhosts/a/md.conf": "MDomain a.org\n", "vhosts/b/md.conf": "MDomain b.org\n"}, Options{}, []string{"a.org", "b.org"}, ""},
	{"IncludeOptional missing", map[string]string{"main.conf": "IncludeOptional nothere/*.conf\nIncludeOptional nothere.conf\nMDomain a.org\n"}, Options{}, []string{"a.org"}, ""},
	{"Include missing", map[string]string{"main.conf": "Include nothere.conf\n"}, Options{}, nil, "main.conf:1: could not open configuration file"},
	{"Include glob in missing dir", map[string]string{"main.conf": "Include nothere/*.conf\n"}, Options{}, nil, "could not open config directory"},
	{"Include no glob match", map[string]string{"main.conf": "Include sites/*.conf\n", "sites/x.txt": ""}, Options{}, nil, "No matches for the wildcard '*.conf'"},
	{"ServerRoot", map[string]string{"main.conf": "ServerRoot /tmp\nIncludeOptional nonexistent-mdparse-test/*.conf\nMDomain a.org\n"}, Options{}, []string{"a.org"}, ""},
	{"ServerRoot missing", map[string]string{"main.conf": "ServerRoot /nonexistent-root\n"}, Options{}, nil, "ServerRoot must be a valid directory"},
	{"IfVersion bad", map[string]string{"main.conf": "<IfVersion !/^2\\.2/>\n</IfVersion>\n"}, Options{}, nil, "Version appears to be invalid"},
	{"unbalanced close", map[string]string{"main.conf": "</VirtualHost>\nMDomain a.org\n"}, Options{}, nil, "</VirtualHost> without matching <VirtualHost> section"},
	{"mismatched close", map[string]string{"main.conf": "<VirtualHost *:80>\n</Directory>\n"}, Options{}, nil, "Expected </VirtualHost> but saw </Directory>"},
	{"unclosed in include", map[string]string{"main.conf": "Include inc.conf\n", "inc.conf": "<IfModule ssl>\nMDomain a.org\n"}, Options{}, nil, "inc.conf:1: <IfModule> was not closed."},
	{"missing >", map[string]string{"main.conf": "<VirtualHost *:80\n</VirtualHost>\n"}, Options{}, nil, "<VirtualHost> directive missing closing '>'"},
	{"mod_macro", map[string]string{"main.conf": "LoadModule macro_module /usr/lib/apache2/modules/mod_macro.so\n" +
		"<Macro Site $name $alias>\nMDomain $name\n<VirtualHost *:443>\n  ServerName $name\n  ServerAlias $alias\n  SSLEngine on\n</VirtualHost>\n</Macro>\n" +
		"<Macro Two $a>\nUse Site $a www.$a\n</Macro>\nUse Site one.org www.one.org\nUse Two two.org\nUndefMacro Site\n"},
		Options{}, []string{"one.org,www.one.org", "two.org,www.two.org"}, ""},
	{"mod_macro recursion", map[string]string{"main.conf": "LoadModule macro_module /usr/lib/apache2/modules/mod_macro.so\n<Macro Loop $x>\nUse Loop $x\n</Macro>\nUse Loop a\n"}, Options{}, nil, "recursive use of macro 'Loop' is invalid"},
	{"mod_macro arg count", map[string]string{"main.conf": "LoadModule macro_module /usr/lib/apache2/modules/mod_macro.so\n<Macro M $x>\nMDomain $x\n</Macro>\nUse M a.org b.org\n"}, Options{}, nil, "used with 2 arguments instead of 1"},
	{"MDomain section", map[string]string{"main.conf": "<MDomain a.org auto>\nMDMember www.a.org\nMDRenewWindow 20%\n</MDomain>\n<MDomainSet b.org>\n</MDomainSet>\n"}, Options{}, []string{"a.org,www.a.org", "b.org"}, ""},
}

func TestSyntax(t *testing.T) {
	t.Setenv("MDPARSE_TEST_ENV", "env.org")
	for _, tc := range syntaxCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := names(t, tc.files, tc.opts)
			if tc.wantErr != "" {
				if !strings.Contains(err, tc.wantErr) {
					t.Fatalf("errors %q; want %q", err, tc.wantErr)
				}
				return
			}
			if err != "" {
				t.Fatalf("errors: %s", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MDs %q; want %q", got, tc.want)
			}
		})
	}
}

// TestBadInput: hostile or broken input ends in a clear error, quickly
// and with bounded memory.
func TestBadInput(t *testing.T) {
	t.Run("include cycle", func(t *testing.T) {
		_, err := names(t, map[string]string{"main.conf": "Include a.conf\n", "a.conf": "Include b.conf\n", "b.conf": "Include a.conf\n"}, Options{})
		if !strings.Contains(err, "include cycle") {
			t.Errorf("errors %q", err)
		}
	})
	t.Run("self include by glob", func(t *testing.T) {
		_, err := names(t, map[string]string{"main.conf": "Include *.conf\n"}, Options{})
		if !strings.Contains(err, "include cycle") {
			t.Errorf("errors %q", err)
		}
	})
	t.Run("symlink loop", func(t *testing.T) {
		dir := t.TempDir()
		os.Symlink("loop2", filepath.Join(dir, "loop1"))
		os.Symlink("loop1", filepath.Join(dir, "loop2"))
		os.Mkdir(filepath.Join(dir, "d"), 0o755)
		os.Symlink("..", filepath.Join(dir, "d", "up"))
		os.WriteFile(filepath.Join(dir, "main.conf"), []byte("Include loop1\nInclude d\n"), 0o644)
		_, err := Load(filepath.Join(dir, "main.conf"), Options{})
		if err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") || !strings.Contains(err.Error(), "include cycle") {
			t.Errorf("errors %v", err)
		}
	})
	t.Run("glob with thousands of files", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "many"), 0o755)
		for i := 0; i < 3000; i++ {
			os.WriteFile(filepath.Join(dir, "many", fmt.Sprintf("f%04d.conf", i)), []byte(fmt.Sprintf("MDomain d%d.org\n", i)), 0o644)
		}
		os.WriteFile(filepath.Join(dir, "main.conf"), []byte("Include many/*.conf\n"), 0o644)
		pc, err := Load(filepath.Join(dir, "main.conf"), Options{})
		if err != nil || len(pc.Records) != 3000 {
			t.Fatalf("err %v, %d records", err, len(pc.Records))
		}
	})
	t.Run("100 MB file", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "main.conf")
		f, _ := os.Create(p)
		f.Truncate(100 << 20) // sparse: no disk space used
		f.Close()
		_, err := Load(p, Options{})
		if err == nil || !strings.Contains(err.Error(), "main.conf: larger than 32 MiB") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("1 MB line", func(t *testing.T) {
		_, err := names(t, map[string]string{"main.conf": "MDomain " + strings.Repeat("a", 1<<20) + ".org\nMDomain b.org\n"}, Options{})
		if !strings.Contains(err, "main.conf:1: line too long") {
			t.Errorf("errors %.200q", err)
		}
	})
	t.Run("binary junk", func(t *testing.T) {
		junk := make([]byte, 4096)
		for i := range junk {
			junk[i] = byte(i * 7)
		}
		_, err := names(t, map[string]string{"main.conf": "MDomain a.org\n" + string(junk)}, Options{})
		if !strings.Contains(err, "binary data (NUL byte)") {
			t.Errorf("errors %q", err)
		}
	})
	t.Run("too many lines", func(t *testing.T) {
		_, err := names(t, map[string]string{"main.conf": strings.Repeat("X\n", MaxLines+1)}, Options{})
		if !strings.Contains(err, "more than 2000000 configuration lines") {
			t.Errorf("errors %.300q", err)
		}
	})
	t.Run("macro bomb", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("<Macro M0 $x>\nMDomain $x\n</Macro>\n")
		for i := 1; i < 30; i++ {
			fmt.Fprintf(&b, "<Macro M%d $x>\nUse M%d $x\nUse M%d $x\n</Macro>\n", i, i-1, i-1)
		}
		b.WriteString("Use M29 a.org\n")
		_, err := names(t, map[string]string{"main.conf": b.String()}, Options{})
		if !strings.Contains(err, "macros expand to more than 200000 lines, giving up") {
			t.Errorf("errors %.300q", err)
		}
	})
	t.Run("define doubling chain", func(t *testing.T) {
		// 24 levels in a 600-byte file would make a 16 MB value, and
		// each use of it 16 MB more
		var b strings.Builder
		b.WriteString("Define A0 x\n")
		for i := 1; i <= 24; i++ {
			fmt.Fprintf(&b, "Define A%d ${A%d}${A%d}\n", i, i-1, i-1)
		}
		b.WriteString("MDomain a.org\n" + strings.Repeat("MDMembers ${A24}\n", 50))
		_, err := names(t, map[string]string{"main.conf": b.String()}, Options{})
		// A16 is 64 KiB: its Define line is the first one over the limit
		if !strings.Contains(err, "main.conf:17: line too long after ${VAR} expansion (more than 65536 bytes), giving up") {
			t.Errorf("errors %.300q", err)
		}
	})
	t.Run("define expansion total", func(t *testing.T) {
		// each line stays under the line limit; together they add more
		// than MaxExpansion
		var b strings.Builder
		b.WriteString("Define A0 " + strings.Repeat("x", 60000) + "\n")
		n := MaxExpansion/60000 + 2
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "Define B%d ${A0}\n", i)
		}
		_, err := names(t, map[string]string{"main.conf": b.String()}, Options{})
		want := fmt.Sprintf("main.conf:%d: ${VAR} expansions add more than 64 MiB in all, giving up", MaxExpansion/60000+2)
		if !strings.Contains(err, want) {
			t.Errorf("errors %.300q; want %q", err, want)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		_, err := names(t, map[string]string{"main.conf": strings.Repeat("<IfModule ssl>\n", 200)}, Options{})
		if !strings.Contains(err, "sections nested too deeply") {
			t.Errorf("errors %.300q", err)
		}
	})
	t.Run("error flood", func(t *testing.T) {
		_, err := names(t, map[string]string{"main.conf": strings.Repeat("MDFoo\n", 5000)}, Options{})
		if n := strings.Count(err, "\n") + 1; n > MaxErrors+1 || !strings.Contains(err, "too many errors") {
			t.Errorf("%d errors", n)
		}
	})
	t.Run("device and fifo", func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "fifo.conf")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "main.conf"), []byte("Include fifo.conf\nInclude /dev/zero\nMDExternalAccountBinding /dev/zero\nMDExternalAccountBinding fifo.conf\n"), 0o644)
		_, err := Load(filepath.Join(dir, "main.conf"), Options{})
		if err == nil || strings.Count(err.Error(), "is a FIFO, not a regular file") != 2 || strings.Count(err.Error(), "is a character device, not a regular file") != 2 || strings.Count(err.Error(), "error reading JSON file") != 2 {
			t.Errorf("err %v", err)
		}
	})
	t.Run("fifo as the config", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "httpd.conf")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // releases a reader that blocked anyway
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
		var err error
		fsreadtest.NoHang(t, func() { _, err = Load(fifo, Options{}) })
		if err == nil || err.Error() != fifo+": is a FIFO, not a regular file" {
			t.Errorf("err %v", err)
		}
	})
	t.Run("not a file", func(t *testing.T) {
		_, err := Load("/nonexistent/httpd.conf", Options{})
		if err == nil || !strings.Contains(err.Error(), "could not open configuration file") {
			t.Errorf("err %v", err)
		}
	})
}

// BenchmarkMembers200k: an <MDomainSet> with 200,000 MDMembers lines and
// a vhost whose 20,000 aliases MDMembers auto adds. Each name used to be
// looked up by a scan of the MD's names (quadratic); now a map:
//
//	go test -run '^$' -bench Members200k -benchtime 3x ./lib/apacheconf/
func BenchmarkMembers200k(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("<MDomainSet a.io>\n")
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&conf, "MDMembers %d.a.io\n", i)
	}
	conf.WriteString("</MDomainSet>\n<VirtualHost *:443>\nServerName a.io\nSSLEngine on\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&conf, "ServerAlias v%d.a.io\n", i)
	}
	conf.WriteString("</VirtualHost>\n")
	path := filepath.Join(b.TempDir(), "main.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		pc, err := Load(path, Options{})
		if err != nil || len(pc.Records) != 1 || len(pc.Records[0].Domains) != 220001 { // a.io, 200,000 members, 20,000 aliases
			b.Fatalf("err %v, %d records, %d names", err, len(pc.Records), len(pc.Records[0].Domains))
		}
	}
}
