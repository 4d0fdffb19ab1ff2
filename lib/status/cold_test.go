package status

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/store"
)

// oddJobs writes job.json files that the shortcuts of the cold path must
// read as the reference path does: null where an object belongs, logs and
// entries of the wrong type, keys in other cases, escapes, duplicates.
func oddJobs(t *testing.T, dir string) {
	t.Helper()
	write := func(g store.Group, name, data string) {
		d := filepath.Join(dir, string(g), name)
		must(t, os.MkdirAll(d, 0o700))
		must(t, os.WriteFile(filepath.Join(d, "job.json"), []byte(data), 0o600))
	}
	// each on a copy of good.test (stapled, with an OCSP job) and of
	// staged.test (with a staged renewal)
	jobs := []string{
		`null`, ` null `, `[]`, `{}`, `{"name":"x","finished":true,"notified-renewed":true}`,
		`{"finished": true, "log": null}`, `{"log": {"entries": null}}`, `{"log": {"entries": [null]}}`,
		`{"log": 5}`, `{"log": {"entries": {}}}`, `{"log": {"entries": [5]}}`,
		`{"log": {"entries": [{"type": "finished", "node": "web1"}]}}`,
		`{"log": {"entries": [{"type": "finished", "node": 7}]}}`,
		`{"log": {"entries": [{"type": "finished", "node": null}]}}`,
		`{"log": {"entries": [{"type": "finished", "node": "web1", "node": "web2"}]}}`,
		`{"Log": {"Entries": [{"TYPE": "finished", "Node": "web3"}]}}`,
		`{"log": {"entries": [{"type": "fini\u0073hed", "node": "web\u0031"}]}}`,
		`{"log": {"entries": [{"type": "finished", "node": "web1"}]}, "log": {"entries": []}}`,
		`{"log": {"entries": [{"detail": "md-install: x", "node": "w\u00e9b"}, {"type": "finished", "node": "web1"}]}}`,
		`{"log": {"entries": [{"detail": "md-install: x", "node": "web2"}], "entries": [{"type": "finished", "node": "web1"}]}}`,
		`{"errors": 2, "next-run": "Mon, 07 Dec 2026 14:19:24 GMT", "log": {"entries": [{"type": "finished", "when": 5}]}}`,
		`{"errors": "two"}`, `{"log": {"entries": [{"type": "finished", "node": "web1"}]}} x`,
	}
	for i, j := range jobs {
		for _, base := range []string{"good.test", "staged.test"} {
			name := fmt.Sprintf("odd%02d.%s", i, base)
			for _, g := range []store.Group{store.GroupDomains, store.GroupStaging, store.GroupOCSP} {
				src := filepath.Join(dir, string(g), base)
				ents, err := os.ReadDir(src)
				if err != nil {
					continue
				}
				must(t, os.MkdirAll(filepath.Join(dir, string(g), name), 0o700))
				for _, e := range ents {
					data, err := os.ReadFile(filepath.Join(src, e.Name()))
					must(t, err)
					if e.Name() == "md.json" {
						data = bytes.ReplaceAll(data, []byte(`"`+base+`"`), []byte(`"`+name+`"`))
					}
					must(t, os.WriteFile(filepath.Join(dir, string(g), name, e.Name()), data, 0o600))
				}
			}
			write(store.GroupDomains, name, j)
			write(store.GroupOCSP, name, j)
			if base == "staged.test" {
				write(store.GroupStaging, name, j)
			}
		}
	}
}

// TestColdPathMatchesReference: every view of stores in many states is
// the same, byte for byte, read with the cold path's shortcuts and
// without them (Reader.slow).
func TestColdPathMatchesReference(t *testing.T) {
	golden, now := buildStore(t)
	oddJobs(t, golden)
	bench, _, later := memoStore(t, 40)
	for _, s := range []struct {
		dir string
		at  time.Time
	}{{golden, now}, {bench, later}} {
		st, err := store.OpenReadOnly(s.dir)
		must(t, err)
		for _, view := range []View{ViewJSON, ViewTable, ViewMetrics, ViewPlan, ViewPlanText, ViewServerStatus, ViewHTML, ViewDetail} {
			render := func(slow bool) string {
				r := &Reader{Store: st, Now: func() time.Time { return s.at }, slow: slow}
				var b bytes.Buffer
				err := r.Render(t.Context(), &b, view, nil, DefaultOptions())
				fmt.Fprintf(&b, "error: %v\n", err)
				return b.String()
			}
			got, want := render(false), render(true)
			if got != want {
				t.Errorf("%s view %d: the cold path:\n%s\nthe reference:\n%s", filepath.Base(s.dir), view, firstDiff(got, want), firstDiff(want, got))
			}
			if view == ViewJSON && !bytes.Contains([]byte(got), []byte("odd")) && s.dir == golden {
				t.Fatalf("the odd MDs are not in the list:\n%s", got)
			}
		}
	}
}
