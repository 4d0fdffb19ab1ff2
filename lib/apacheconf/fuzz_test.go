package apacheconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// FuzzLoad feeds arbitrary config text to the reader: it must not panic
// or hang, and every record it returns must be one the later stages
// accept. Includes are confined to the fuzz directory.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(testdataDir, "*.conf"))
	more, _ := filepath.Glob(filepath.Join(testdataDir, "debian", "*", "*"))
	seeds = append(seeds, more...)
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("Include inc.conf\n<IfModule !ssl>\nMDomain ${X} a.org\n</IfModule>\n")
	f.Add("<Macro S $n>\nMDomain $n\n<VirtualHost *:443>\nServerName $n\n</VirtualHost>\n</Macro>\nUse S a.org\nUndefMacro S\n")
	f.Add("<MDomain a.org>\nMDMember \"b.org\" 'c.org'\\\n d.org\n</MDomain>\n")
	// a Define doubling chain: the expansion caps must stop it at once
	f.Add("Define A0 xxxxxxxx\nDefine A1 ${A0}${A0}\nDefine A2 ${A1}${A1}\nDefine A3 ${A2}${A2}\nDefine A4 ${A3}${A3}\nMDomain a.org ${A4}\n")
	f.Add("Define A ${B}\nDefine B ${A}${A}\nMDomain ${A}${B}.org\n")
	f.Add("<MDomainSet a.org>\nMDMembers b.org B.ORG *.a.org www.a.org\nMDMembers b.org\n</MDomainSet>\n")
	dir, err := os.MkdirTemp("", "fuzzload")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	dir, _ = filepath.EvalSymlinks(dir)
	os.WriteFile(filepath.Join(dir, "inc.conf"), []byte("MDomain inc.org\nMDPortMap http:8080\n"), 0o644)
	f.Fuzz(func(t *testing.T, conf string) {
		p := filepath.Join(dir, "main.conf")
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		pc, errs := load(p, Options{ServerRoot: dir}, dir)
		if pc == nil {
			t.Fatal("nil result")
		}
		for _, e := range errs {
			if e.File == "" || strings.Contains(e.Msg, "\x00") {
				t.Errorf("bad error %q", e.Error())
			}
		}
		if len(errs) > 0 {
			return
		}
		for _, r := range pc.Records {
			if err := r.Validate(); err != nil {
				t.Errorf("invalid record %s: %v", r.Name, err)
			}
			if _, err := r.MarshalJSON(); err != nil {
				t.Errorf("record %s does not encode: %v", r.Name, err)
			}
			var back md.Record
			b, _ := r.MarshalJSON()
			if err := back.UnmarshalJSON(b); err != nil {
				t.Errorf("record %s does not decode: %v", r.Name, err)
			}
		}
	})
}
