package event

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Expected argv as Apache's apr_tokenize_to_argv produces them.
var tokenizeCases = []struct {
	in   string
	want []string
}{
	{"", nil},
	{"   \t ", nil},
	{"/usr/bin/md-message", []string{"/usr/bin/md-message"}},
	{"/etc/apache/md-message fred", []string{"/etc/apache/md-message", "fred"}},
	{"  cmd \t a   b  ", []string{"cmd", "a", "b"}},
	{`cmd "two words" 'single quoted'`, []string{"cmd", "two words", "single quoted"}},
	{`cmd "it's" 'say "hi"'`, []string{"cmd", "it's", `say "hi"`}},
	{`cmd a\ b`, []string{"cmd", "a b"}},
	{`cmd "a \"q\" b"`, []string{"cmd", `a "q" b`}},
	{`cmd a\\b`, []string{"cmd", `a\b`}},
	{`cmd a\nb`, []string{"cmd", "anb"}}, // any other backslash is dropped
	{`cmd trailing\`, []string{"cmd", "trailing"}},
	{`cmd "unterminated arg`, []string{"cmd", "unterminated arg"}},
	{`cmd ""`, []string{"cmd", ""}},
	{`cmd "ab"cd`, []string{"cmd", "ab", "cd"}}, // a closing quote ends the argument
	{`cmd ab"cd"`, []string{"cmd", `ab"cd"`}},   // quotes only count at the start
	{"/opt/dns-hook --zone x.org setup a.x.org TOKEN", []string{"/opt/dns-hook", "--zone", "x.org", "setup", "a.x.org", "TOKEN"}},
}

func TestTokenize(t *testing.T) {
	for _, tc := range tokenizeCases {
		got := Tokenize(tc.in)
		if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || len(got) != len(tc.want) {
			t.Errorf("Tokenize(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, tc := range tokenizeCases {
		f.Add(tc.in)
	}
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "event", "cmdlines.txt")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		argv := Tokenize(in)
		for _, a := range argv {
			if len(a) > len(in) {
				t.Fatalf("argument %q longer than input %q", a, in)
			}
		}
		// Plain words separated by blanks come back unchanged.
		if !strings.ContainsAny(in, "\"'\\") {
			if got, want := strings.Join(argv, " "), strings.Join(strings.Fields(strings.ReplaceAll(in, "\t", " ")), " "); got != want && !strings.ContainsAny(in, "\n\r\v\f\u0085\u00a0") {
				t.Fatalf("Tokenize(%q) = %q; want fields %q", in, argv, want)
			}
		}
	})
}
