package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/memo/memotest"
)

// TestMain keeps the run memos of this package's runs out of the user's
// cache directory.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "md-parse-cache-")
		if err != nil {
			return 1
		}
		defer os.RemoveAll(dir)
		os.Setenv(memo.CacheEnv, dir)
		return m.Run()
	}())
}

// runMemoSetup is a config in dir (md.toml, or httpd.conf with an
// Include glob and a ${SITE} variable) with its store and cache.
type runMemoSetup struct {
	dir, conf, store, cache string
}

func newRunMemoSetup(t *testing.T, apache bool) runMemoSetup {
	t.Helper()
	dir := t.TempDir()
	// the cache is outside dir: creating it would change ServerRoot
	s := runMemoSetup{dir: dir, store: filepath.Join(dir, "store"), cache: filepath.Join(t.TempDir(), "cache")}
	t.Setenv(memo.CacheEnv, s.cache)
	t.Setenv(cli.NoMemoEnv, "")
	t.Setenv("SITE", "a.test")
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("eab.json", `{"kid": "kid-1", "hmac": "c2VjcmV0LWhtYWMta2V5LW9mLTMyLWJ5dGVzLi4uLi4"}`)
	if apache {
		s.conf = filepath.Join(dir, "httpd.conf")
		os.Mkdir(filepath.Join(dir, "conf.d"), 0o700)
		write("conf.d/b.conf", "MDomain b.test\n")
		write("httpd.conf", "ServerRoot "+dir+"\nMDStoreDir "+s.store+"\n"+
			"MDCertificateAuthority https://127.0.0.1:1/dir\nMDCertificateAgreement accepted\n"+
			"MDContactEmail ops@example.test\nMDExternalAccountBinding "+dir+"/eab.json\n"+
			"MDomain ${SITE}\nIncludeOptional "+dir+"/conf.d/*.conf\n")
	} else {
		s.conf = filepath.Join(dir, "md.toml")
		write("md.toml", "[global]\nstore-dir = \""+s.store+"\"\n"+
			"certificate-authority = [\"https://127.0.0.1:1/dir\"]\ncertificate-agreement = \"accepted\"\n"+
			"contact-email = \"ops@example.test\"\nexternal-account-binding = \""+dir+"/eab.json\"\n"+
			"[[domain]]\ndomains = [\"a.test\"]\n[[domain]]\ndomains = [\"b.test\"]\n")
	}
	return s
}

var memoNotes = regexp.MustCompile(`(?m)^md-parse: (\d+ of \d+ records answered from the memo|run memo).*\n`)

// replayedWhole reports whether a run with -v wrote its output from the
// run memo, without reading the configuration.
func replayedWhole(stderr string) bool { return strings.Contains(stderr, "unchanged, not read)") }

// TestRunMemo is issue 17's proof for md-parse's run memo: after a
// change to anything the configuration read depended on (a file, an
// Include glob's directory, an EAB file, a ${VAR}) or to the store, the
// run reads the configuration again, and prints what a run without any
// memo prints; with no change it reads nothing.
func TestRunMemo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		apache   bool
		change   func(t *testing.T, s runMemoSetup)
		args     []string
		replayed bool
	}{
		{"nothing", false, func(*testing.T, runMemoSetup) {}, nil, true},
		{"nothing, Apache", true, func(*testing.T, runMemoSetup) {}, nil, true},
		{"only -v and --wait differ", false, func(*testing.T, runMemoSetup) {}, []string{"--wait", "3s"}, true},
		{"config edited", false, func(t *testing.T, s runMemoSetup) {
			appendFile(t, s.conf, "[[domain]]\ndomains = [\"c.test\"]\n")
		}, nil, false},
		{"config touched only", false, func(t *testing.T, s runMemoSetup) {
			now := time.Now()
			os.Chtimes(s.conf, now, now)
		}, nil, false},
		{"EAB file changed", false, func(t *testing.T, s runMemoSetup) {
			os.WriteFile(filepath.Join(s.dir, "eab.json"), []byte(`{"kid": "kid-2", "hmac": "c2VjcmV0LWhtYWMta2V5LW9mLTMyLWJ5dGVzLi4uLi4"}`), 0o600)
		}, nil, false},
		{"stored md.json changed", false, func(t *testing.T, s runMemoSetup) {
			changeStoredMD(t, s.store, "a.test")
		}, nil, false},
		{"stored MD removed", false, func(t *testing.T, s runMemoSetup) {
			os.RemoveAll(filepath.Join(s.store, "domains", "b.test"))
		}, nil, false},
		{"run memo corrupt", false, func(t *testing.T, s runMemoSetup) {
			files, _ := filepath.Glob(filepath.Join(s.cache, "md-parse-*.bin"))
			for _, f := range files {
				data, _ := os.ReadFile(f)
				data[len(data)-1] ^= 1
				os.WriteFile(f, data, 0o600)
			}
		}, nil, false},
		{"store memo removed", false, func(t *testing.T, s runMemoSetup) {
			os.Remove(filepath.Join(s.store, memo.FileName("parse")))
		}, nil, false},
		{"file added to the Include glob's directory", true, func(t *testing.T, s runMemoSetup) {
			os.WriteFile(filepath.Join(s.dir, "conf.d", "c.conf"), []byte("MDomain c.test\n"), 0o600)
		}, nil, false},
		{"included file changed", true, func(t *testing.T, s runMemoSetup) {
			appendFile(t, filepath.Join(s.dir, "conf.d", "b.conf"), "MDomain d.test\n")
		}, nil, false},
		{"SITE variable changed", true, func(t *testing.T, s runMemoSetup) { t.Setenv("SITE", "x.test") }, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRunMemoSetup(t, tc.apache)
			memotest.Age(t, s.dir)
			mustRun(t, "-v", s.conf) // writes the store
			memotest.Age(t, s.dir)
			mustRun(t, "-v", s.conf) // remembers every MD, and the run
			if _, errOut := mustRun(t, "-v", s.conf); !replayedWhole(errOut) {
				t.Fatalf("the run after was not answered from the run memo:\n%s", errOut)
			}
			tc.change(t, s)
			out, errOut := mustRun(t, append(append([]string{"-v"}, tc.args...), s.conf)...)
			if replayedWhole(errOut) != tc.replayed {
				t.Errorf("answered from the run memo: %v, want %v\n%s", !tc.replayed, tc.replayed, errOut)
			}
			t.Setenv(cli.NoMemoEnv, "1")
			outWithout, errWithout := mustRun(t, "-v", s.conf)
			if out != outWithout {
				t.Errorf("output with the memos\n%s\nwithout\n%s", out, outWithout)
			}
			if a, b := memoNotes.ReplaceAllString(errOut, ""), memoNotes.ReplaceAllString(errWithout, ""); a != b {
				t.Errorf("stderr with the memos\n%s\nwithout\n%s", a, b)
			}
		})
	}
}

// TestRunMemoNotForDryRun: --dry-run and --check never use a run memo
// (they sync nothing).
func TestRunMemoNotForDryRun(t *testing.T) {
	s := newRunMemoSetup(t, false)
	memotest.Age(t, s.dir)
	mustRun(t, "-v", s.conf)
	memotest.Age(t, s.dir)
	mustRun(t, "-v", s.conf)
	for _, args := range [][]string{{"--dry-run"}, {"--check"}, {}} {
		_, errOut := mustRun(t, append(append([]string{"-v"}, args...), s.conf)...)
		if want := len(args) == 0; replayedWhole(errOut) != want {
			t.Errorf("%v: answered from the run memo: %v, want %v", args, !want, want)
		}
	}
}

func mustRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != cli.ExitOK {
		t.Fatalf("md-parse %v: exit %d\n%s", args, code, errOut)
	}
	return out, errOut
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(text)
	f.Close()
}

// TestMemoAfterInsert: a definition inserted at the top of the config
// moves every other one down (the MD's line and its vhosts' lines);
// those MDs are still answered from the store's memo, with their new
// lines, and later runs from the run memo with the same lines.
func TestMemoAfterInsert(t *testing.T) {
	for _, tc := range []struct {
		name, config, before, insert string
		afterComment                 string // what -v says after a comment is appended
	}{
		// md.toml: the table the comment ends is read again
		{"md.toml", "md.toml", "[[domain]]\ndomains = [\"a.test\"]", "[[domain]]\ndomains = [\"c.test\"]\n\n",
			"3 of 3 records answered from the memo (memo-parse.bin; 2 of 3 [[domain]] tables as before, the others read)\n"},
		{"Apache", "httpd.conf", "MDomain a.test", "MDomain c.test\n<VirtualHost *:443>\n  ServerName c.test\n</VirtualHost>\n",
			"3 of 3 records answered from the memo (memo-parse.bin)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv(memo.CacheEnv, filepath.Join(t.TempDir(), "cache"))
			t.Setenv(cli.NoMemoEnv, "")
			conf, store := filepath.Join(dir, tc.config), filepath.Join(dir, "store")
			text := "[global]\nstore-dir = \"" + store + "\"\ncertificate-authority = [\"https://127.0.0.1:1/dir\"]\n" +
				"certificate-agreement = \"accepted\"\n[[domain]]\ndomains = [\"a.test\"]\n[[domain]]\ndomains = [\"b.test\"]\n"
			if tc.config == "httpd.conf" {
				text = "ServerRoot " + dir + "\nMDStoreDir " + store + "\nMDCertificateAuthority https://127.0.0.1:1/dir\n" +
					"MDCertificateAgreement accepted\nMDomain a.test\nMDomain b.test\n" +
					"<VirtualHost *:443>\n  ServerName a.test\n</VirtualHost>\n<VirtualHost *:443>\n  ServerName b.test\n  ServerAlias www.b.test\n</VirtualHost>\n"
			}
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			memotest.Age(t, dir)
			mustRun(t, "-v", conf) // writes the store
			memotest.Age(t, dir)
			first, _ := mustRun(t, "-v", conf) // remembers every MD
			if err := os.WriteFile(conf, []byte(strings.Replace(text, tc.before, tc.insert+tc.before, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(what string, wantNote string) {
				t.Helper()
				out, errOut := mustRun(t, "-v", conf)
				if !strings.Contains(errOut, wantNote) {
					t.Errorf("%s: stderr does not say %q:\n%s", what, wantNote, errOut)
				}
				t.Setenv(cli.NoMemoEnv, "1")
				defer t.Setenv(cli.NoMemoEnv, "")
				if outWithout, _ := mustRun(t, "-v", "--dry-run", conf); out != outWithout {
					t.Errorf("%s: output with the memos\n%s\nwithout\n%s", what, out, outWithout)
				}
				if b := strings.Split(out, "\n")[1]; !strings.Contains(b, `"name":"b.test"`) || strings.Contains(first, b) {
					t.Errorf("%s: b.test's line did not move (its sources):\n%s\nbefore\n%s", what, b, first)
				}
			}
			check("after the insert", "2 of 3 records answered from the memo")
			memotest.Age(t, dir)   // c.test's new files count as settled
			mustRun(t, "-v", conf) // remembers every MD anew (the times changed)
			appendFile(t, conf, "# the config changed, the definitions did not\n")
			memotest.Age(t, conf) // settled: the run may remember it
			check("after a comment", tc.afterComment)
			check("with nothing changed", "unchanged, not read")
		})
	}
}
