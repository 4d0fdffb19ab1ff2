package apacheconf

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readme is the project's README.md, two directories up.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReadmeDirectiveCount keeps the README's "all N mod_md directives"
// equal to what this reader knows.
func TestReadmeDirectiveCount(t *testing.T) {
	m := regexp.MustCompile(`all (\d+) mod_md directives`).FindStringSubmatch(readme(t))
	if m == nil {
		t.Fatal(`README.md does not say "all N mod_md directives"`)
	}
	ext := 0 // "plus N mdtools directives": extensions mod_md does not know
	if e := regexp.MustCompile(`plus (\d+) mdtools directives`).FindStringSubmatch(readme(t)); e != nil {
		ext, _ = strconv.Atoi(e[1])
	}
	if n, _ := strconv.Atoi(m[1]); n+ext != len(Directives()) {
		t.Errorf("README.md says all %d mod_md directives plus %d mdtools ones; the reader knows %d", n, ext, len(Directives()))
	}
}

// TestReadmeApacheExamples loads every ```apache example of the README as a
// config of its own, with the md-install snippets it includes not written
// yet (as before the first md-install run): each one must be accepted.
func TestReadmeApacheExamples(t *testing.T) {
	blocks := regexp.MustCompile("(?s)\n( *)```apache\n(.*?)\n *```").FindAllStringSubmatch(readme(t), -1)
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d apache examples; want at least 2", len(blocks))
	}
	for i, b := range blocks {
		dir := t.TempDir()
		var text strings.Builder
		for _, line := range strings.Split(b[2], "\n") {
			text.WriteString(strings.TrimPrefix(line, b[1]) + "\n")
		}
		conf := strings.ReplaceAll(text.String(), "/etc/apache2/md/", filepath.Join(dir, "md")+"/")
		path := filepath.Join(dir, "apache2.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path, Options{}); err != nil {
			t.Errorf("README apache example %d does not load before the first md-install run: %v\n%s", i+1, err, conf)
		}
	}
}
