package tomlconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/md"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/tomlconf")

const goldenDir = "../../testdata/tomlconf"

// golden runs one case directory: md.toml in, want.jsonl (+ want.warn) or
// want.err out. Absolute paths of the case directory show as $DIR.
func golden(t *testing.T, dir string) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "md.toml"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := parse("md.toml", abs, data, nil)
	files := map[string][]byte{}
	if err != nil {
		var ce md.ConfigErrors
		if !errors.As(err, &ce) {
			t.Fatalf("error is %T, not md.ConfigErrors: %v", err, err)
		}
		files["want.err"] = []byte(err.Error() + "\n")
	} else {
		var out bytes.Buffer
		for _, r := range pc.Records {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out.Write(b)
			out.WriteByte('\n')
		}
		files["want.jsonl"] = out.Bytes()
		if len(pc.Warnings) > 0 {
			files["want.warn"] = []byte(md.ConfigErrors(pc.Warnings).Error() + "\n")
		}
		// every record must pass the checks later stages rely on
		for _, r := range pc.Records {
			if err := r.Validate(); err != nil {
				t.Errorf("record %s does not validate: %v", r.Name, err)
			}
		}
	}
	for name, got := range files {
		files[name] = bytes.ReplaceAll(got, []byte(abs), []byte("$DIR"))
	}
	for _, name := range []string{"want.jsonl", "want.warn", "want.err"} {
		path := filepath.Join(dir, name)
		got, produced := files[name]
		if *update {
			if produced {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				os.Remove(path)
			}
			continue
		}
		want, err := os.ReadFile(path)
		switch {
		case produced && err != nil:
			t.Errorf("%s: got output but no golden file (run with -update):\n%s", name, got)
		case !produced && err == nil:
			t.Errorf("%s: golden file exists but nothing was produced; want:\n%s", name, want)
		case produced && !bytes.Equal(got, want):
			t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
		}
	}
}

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*", "md.toml"))
	if err != nil || len(dirs) < 10 {
		t.Fatalf("golden cases missing: %d found, %v", len(dirs), err)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) { golden(t, dir) })
	}
}

// TestLoadFile goes through Load (file reading, relative paths) rather
// than parse.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "md.toml")
	conf := "[global]\nstore-dir = \"store\"\n\n[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"www\"\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "store"); pc.StoreDir != want {
		t.Errorf("StoreDir = %q; want %q", pc.StoreDir, want)
	}
	r := pc.Records[0]
	if r.Host == nil || r.Host.Webroot != filepath.Join(dir, "www") {
		t.Errorf("host = %+v; want webroot under %s", r.Host, dir)
	}
	if r.Source == nil || r.Source.File != path || r.Source.Line != 4 {
		t.Errorf("source = %+v; want %s:4", r.Source, path)
	}
	if r.Settings == nil || r.Settings.StoreDir != pc.StoreDir || !r.Settings.Reachable.HTTP {
		t.Errorf("settings = %+v", r.Settings)
	}
}

func TestLoadLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.toml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sparse := filepath.Join(dir, "sparse.toml") // 100 MB, no disk used
	if f, err = os.Create(sparse); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	eabFIFO := filepath.Join(dir, "eab.toml")
	if err := os.WriteFile(eabFIFO, []byte("[global]\nexternal-account-binding = \"fifo.toml\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eabZero := filepath.Join(dir, "eab-zero.toml")
	if err := os.WriteFile(eabZero, []byte("[global]\nexternal-account-binding = \"/dev/zero\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// a reader that blocked on the FIFO anyway is released at the end
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.toml"), "nope.toml: reading config: no such file or directory"},
		{"sparse 100 MB", sparse, "sparse.toml: larger than 32 MiB"},
		{"fifo", fifo, "fifo.toml: is a FIFO, not a regular file"},
		{"eab fifo", eabFIFO, "eab.toml:2: external-account-binding: error reading JSON file " + fifo + ": is a FIFO, not a regular file"},
		{"eab dev zero", eabZero, "eab-zero.toml:2: external-account-binding: error reading JSON file /dev/zero: is a character device, not a regular file"},
		{"directory", dir, "is a directory, not a regular file"},
		{"too large", big, "big.toml: larger than 32 MiB"},
		{"device", "/dev/zero", "/dev/zero: is a character device, not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			done := make(chan struct{})
			go func() { defer close(done); _, err = Load(tc.path) }()
			select { // only detects a hang: a FIFO must not be waited on
			case <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("Load blocked")
			}
			var ce md.ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T); want md.ConfigErrors", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q; want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestManPageExample checks that the example in man/md.toml.5 is the one
// in testdata (which TestGolden parses) and that every key is documented.
func TestManPageExample(t *testing.T) {
	man, err := os.ReadFile("../../man/md.toml.5")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(goldenDir, "example", "md.toml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(man)
	start := strings.Index(text, ".\\\" BEGIN EXAMPLE\n")
	end := strings.Index(text, ".\\\" END EXAMPLE\n")
	if start < 0 || end < start {
		t.Fatal("man page lacks the BEGIN/END EXAMPLE markers")
	}
	block := text[start:end]
	block = block[strings.Index(block, ".nf\n")+len(".nf\n") : strings.LastIndex(block, ".fi\n")]
	block = strings.ReplaceAll(block, "\\e", "\\")
	block = strings.ReplaceAll(block, "\\(dq", "\"")
	block = strings.ReplaceAll(block, "\\-", "-")
	block = strings.ReplaceAll(block, "\\&", "")
	if block != string(example) {
		t.Errorf("man page example differs from %s/example/md.toml:\n--- man:\n%s\n--- testdata:\n%s", goldenDir, block, example)
	}
	for _, k := range keyDefs {
		if !strings.Contains(text, ".B "+strings.ReplaceAll(k.name, "-", "\\-")) {
			t.Errorf("key %q is not documented (no \".B %s\" line)", k.name, k.name)
		}
	}
}

func TestQuoteArgvRoundTrip(t *testing.T) {
	tests := [][]string{
		{"/usr/bin/hook"},
		{"/usr/bin/hook", "a b", ""},
		{"/opt/my hook/x", `say "hi"`, `back\slash`, "it's", "\ttab", `\`, `'`, `a\ b`},
	}
	for _, argv := range tests {
		s := quoteArgv(argv)
		// event.Tokenize is apr_tokenize_to_argv, what lib/challenge runs
		if got := event.Tokenize(s); !reflect.DeepEqual(got, argv) {
			t.Errorf("Tokenize(quoteArgv(%q)) = %q via %q", argv, got, s)
		}
	}
}

func TestLineIndex(t *testing.T) {
	src := `# comment
[global]
a = 1
b = """
x = 2
"""
c = [
  "d = 3",
]

[[domain]]
domains = ["x.org"]   # d = 4
'quoted key' = 1
e.f = 2

[[domain]]
domains = ['y.org']
[domain.sub]
g = 1
`
	ix := indexLines(src)
	want := map[string]int{
		"global": 2, "global.a": 3, "global.b": 4, "global.c": 7,
		"domain.0": 11, "domain.0.domains": 12, "domain.0.quoted key": 13, "domain.0.e": 14,
		"domain.1": 16, "domain.1.domains": 17, "domain.1.sub": 18, "domain.1.sub.g": 19,
	}
	for k, n := range want {
		if ix[k] != n {
			t.Errorf("line of %q = %d; want %d", k, ix[k], n)
		}
	}
	for _, k := range []string{"global.x", "global.d", "domain.0.d"} {
		if _, ok := ix[k]; ok {
			t.Errorf("%q found inside a string or comment", k)
		}
	}
	if got := ix.line("domain.1", "nokey"); got != 16 {
		t.Errorf("fallback line = %d; want the header's 16", got)
	}

	// a byte order mark and CRLF line ends
	ix = indexLines("\ufeff[global]\r\n\r\nrenew-window = \"1y\"\r\n")
	if ix["global"] != 1 || ix["global.renew-window"] != 3 {
		t.Errorf("BOM/CRLF: %v", ix)
	}
}

// BenchmarkLoad reads an md.toml of 5000 domains.
func BenchmarkLoad(b *testing.B) {
	var conf strings.Builder
	conf.WriteString("[global]\nwebroot = \"/srv\"\ncontact-email = \"a@example.org\"\nprivate-keys = [\"secp256r1\", \"RSA 3072\"]\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&conf, "\n[[domain]]\ndomains = [\"d%d.example\", \"www.d%d.example\"]\nrenew-window = \"14d\"\n", i, i)
	}
	path := filepath.Join(b.TempDir(), "md.toml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(conf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pc, err := Load(path)
		if err != nil || len(pc.Records) != 5000 {
			b.Fatal(err)
		}
	}
}

// TestMaxDomainsFit: the two bounds agree: an md.toml of MaxDomains
// [[domain]] tables, each with two names and a key setting, as a host with
// 100,000 MDs has (issue 17) twice over, is within MaxFileSize and loads.
func TestMaxDomainsFit(t *testing.T) {
	var b strings.Builder
	b.WriteString("[global]\ncontact-email = \"admin@example.org\"\n")
	for i := 1; i <= MaxDomains; i++ {
		fmt.Fprintf(&b, "[[domain]]\ndomains = [\"site%d.customer.example.org\", \"www.site%d.customer.example.org\"]\nprivate-keys = [\"secp256r1\"]\n", i, i)
	}
	if b.Len() > MaxFileSize {
		t.Fatalf("%d domains take %d bytes; md.toml may have %d", MaxDomains, b.Len(), MaxFileSize)
	}
	path := filepath.Join(t.TempDir(), "md.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	pc, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Records) != MaxDomains {
		t.Errorf("%d records, want %d", len(pc.Records), MaxDomains)
	}
	// one more is refused, saying how many there are and what to do
	pc = nil
	b.WriteString("[[domain]]\ndomains = [\"one-more.example.org\"]\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	want := fmt.Sprintf("%s: domain: %d [[domain]] tables; an md.toml may have at most %d (split the MDs over several md.toml files, each with its own store-dir)", path, MaxDomains+1, MaxDomains)
	if err == nil || err.Error() != want {
		t.Errorf("one table too many: %v\nwant %s", err, want)
	}
}
