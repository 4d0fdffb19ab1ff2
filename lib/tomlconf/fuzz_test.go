package tomlconf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the md.toml reader, seeded with every
// golden case: it must return records or md.ConfigErrors, never panic or
// hang, and every record it returns must validate.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*", "md.toml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[[domain]]\ndomains = [\"a.example\"]\n[domain.x]\n"))
	f.Add([]byte("domain = [{domains = [\"a.example\"]}]\n"))
	// misspelt keys and tables get suggestions; duplicate names collapse
	f.Add([]byte("[globl]\nrenew-windw = 1\n[[domains]]\ncontact-emial = \"x\"\n[[domain]]\ndomains = [\"a.example\", \"A.example\", \"*.a.example\", \"b.a.example\"]\nMDStapeling = true\nstore-dri = \"/x\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		pc, err := parse("fuzz.toml", dir, data, nil)
		if err != nil {
			if pc != nil {
				t.Fatal("both a result and an error")
			}
			return
		}
		for _, r := range pc.Records {
			if err := r.Validate(); err != nil {
				t.Fatalf("record %q does not validate: %v", r.Name, err)
			}
			if r.Source == nil || r.Settings == nil || r.CA == nil {
				t.Fatalf("record %q lacks source, settings or ca", r.Name)
			}
		}
		_ = indexLines(string(data))
	})
}
