package acmeflow

import (
	"go/build"
	"strings"
	"testing"
)

// TestNoStageImports: md-order's logic does not reach into another
// stage's package (issue 13): what it shares with md-staple (the stored
// revocation verdicts) lives in lib/ocspfile. Checked over every package
// lib/acmeflow imports, directly or not.
func TestNoStageImports(t *testing.T) {
	const mod = "github.com/mdtools/mdtools/"
	forbidden := map[string]bool{mod + "lib/staple": true, mod + "lib/install": true, mod + "lib/status": true}
	seen := map[string]string{}
	queue := []string{mod + "lib/acmeflow"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		pkg, err := build.Import(p, ".", 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, mod) || seen[imp] != "" {
				continue
			}
			seen[imp] = p
			if forbidden[imp] {
				t.Errorf("%s imports %s", p, imp)
			}
			queue = append(queue, imp)
		}
	}
	if seen[mod+"lib/ocspfile"] == "" {
		t.Errorf("lib/acmeflow does not read revocation verdicts through lib/ocspfile")
	}
}
