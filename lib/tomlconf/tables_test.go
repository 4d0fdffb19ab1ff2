package tomlconf

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// TestSplit: the [[domain]] tables are found where TOML has them (not in
// strings or comments), and a file with other tables is not cut.
func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		lines []int // the tables' header lines; nil: not cut
		spans []int // the lines each spans
	}{
		{"global and two", "[global]\nx = 1\n[[domain]]\ndomains = [\"a\"]\n[[domain]]\ndomains = [\"b\"]\n", []int{3, 5}, []int{2, 3}},
		{"no newline at the end", "[[domain]]\ndomains = [\"a\"]", []int{1}, []int{2}},
		{"global after the tables", "[[domain]]\ndomains = [\"a\"]\n[global]\nx = 1\n[[domain]]\n", []int{1, 5}, []int{2, 2}},
		{"indented, spaced, commented headers", "  [[ domain ]] # a\ndomains = [\"a\"]\n\t[ global ]\n", []int{1}, []int{2}},
		{"a header in a multi-line string", "[[domain]]\nx = \"\"\"\n[[domain]]\n\"\"\"\n[[domain]]\n", []int{1, 5}, []int{4, 2}},
		{"a header in a literal string", "[[domain]]\nx = '''\n[[domain]]\n'''\n", []int{1}, []int{5}},
		{"a header in a comment", "[[domain]]\n# [[domain]]\nx = 1\n", []int{1}, []int{4}},
		{"an array over lines", "[[domain]]\ndomains = [\n  \"a\",\n  [\"b\"],\n]\n[[domain]]\n", []int{1, 6}, []int{5, 2}},
		{"none", "[global]\nx = 1\n", []int{}, []int{}},
		{"a subtable", "[[domain]]\ndomains = [\"a\"]\n[domain.eab]\n", nil, nil},
		{"an array of subtables", "[[domain]]\n[[domain.x]]\n", nil, nil},
		{"another table", "[globl]\n", nil, nil},
		{"[domain] not an array", "[domain]\n", nil, nil},
		{"a byte order mark", "\ufeff[[domain]]\n", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tabs, ok := Split("/etc/md.toml", []byte(tc.text))
			if ok != (tc.lines != nil) {
				t.Fatalf("cut: %v, want %v", ok, tc.lines != nil)
			}
			if !ok {
				return
			}
			lines, spans := []int{}, []int{}
			for _, tb := range tabs.List {
				lines, spans = append(lines, tb.Line), append(spans, tb.Lines)
			}
			if !reflect.DeepEqual(lines, tc.lines) || !reflect.DeepEqual(spans, tc.spans) {
				t.Errorf("tables at lines %v spanning %v, want %v spanning %v", lines, spans, tc.lines, tc.spans)
			}
		})
	}
}

// TestSplitSums: a table's sum stays when it moves and changes with its
// own text, the rest of the file and the file's directory.
func TestSplitSums(t *testing.T) {
	base := "[global]\nrenew-window = \"33%\"\n[[domain]]\ndomains = [\"a\"]\n[[domain]]\ndomains = [\"b\"]\n"
	sums := func(dir, text string) map[string]TableSum {
		t.Helper()
		tabs, ok := Split(filepath.Join(dir, "md.toml"), []byte(text))
		if !ok {
			t.Fatalf("not cut:\n%s", text)
		}
		out := map[string]TableSum{}
		for i, tb := range tabs.List {
			sp := tabs.spans[i]
			out[strings.TrimSpace(string(tabs.data[sp[0]:sp[1]]))] = tb.Sum
		}
		return out
	}
	was := sums("/etc", base)
	same := func(what string, got map[string]TableSum, want ...bool) {
		t.Helper()
		for i, table := range []string{"[[domain]]\ndomains = [\"a\"]", "[[domain]]\ndomains = [\"b\"]"} {
			s, ok := got[table]
			if ok && (s == was[table]) != want[i] {
				t.Errorf("%s: table %d's sum the same: %v, want %v", what, i, !want[i], want[i])
			}
			if !ok && want[i] {
				t.Errorf("%s: table %d missing", what, i)
			}
		}
	}
	same("moved", sums("/etc", "[[domain]]\ndomains = [\"b\"]\n"+base), true, true)
	same("the other edited", sums("/etc", strings.Replace(base, "[\"b\"]", "[\"b\", \"c\"]", 1)), true, false)
	same("[global] edited", sums("/etc", strings.Replace(base, "33%", "34%", 1)), false, false)
	same("a comment before the tables", sums("/etc", "# x\n"+base), false, false)
	same("another directory", sums("/srv", base), false, false)
}

// tablesConfigs are md.toml files whose tables meet: reachability from
// one table's webroot or listener, warnings per table, names that
// overlap only in another order.
var tablesConfigs = []string{
	"[global]\nstore-dir = \"/var/lib/md\"\nhttp-listen = \":8080\"\n" +
		"[[domain]]\ndomains = [\"a.test\", \"www.a.test\"]\nwebroot = \"/srv/a\"\n" +
		"[[domain]]\ndomains = [\"b.test\"]\n\n# b's comment\n" +
		"[[domain]]\ndomains = [\"*.c.test\"]\ntls-listen = \":443\"\nkey-mode = \"0644\"\ndeploy-dir = \"/srv/c\"\n" +
		"[[domain]]\ndomains = [\"d.test\"]\nrenew-window = \"20%\"\n",
	"[global]\ndeploy-dir = \"/srv/deploy\"\nport-map = \"http:8080\"\n" +
		"[[domain]]\ndomains = [\"x.c.test\"]\n[[domain]]\ndomains = [\"*.c.test\"]\nchallenge-dns01 = [\"/bin/true\"]\n" +
		"[[domain]]\ndomains = [\"e.test\"]\nhttp-listen = \"127.0.0.1:8080\"\n",
	"[[domain]]\ndomains = [\"only.test\"]\n",
}

// TestParseWithout is the proof that reading a file with some tables
// blank (known) makes what reading it whole makes for the others: the
// same records, the same warnings outside the known tables, the same
// reachability; for every subset of the tables of each config.
func TestParseWithout(t *testing.T) {
	for n, text := range tablesConfigs {
		checkParseWithout(t, fmt.Sprintf("config %d", n), []byte(text), 0)
	}
}

// checkParseWithout compares ParseWithout for every subset of the
// tables (at most 2^limit of them; 0: all) with Parse.
func checkParseWithout(t *testing.T, name string, data []byte, limit int) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "md.toml")
	whole, err := parse(file, dir, data, nil)
	if err != nil {
		return
	}
	tabs, ok := Split(file, data)
	if !ok {
		return
	}
	if len(tabs.List) != len(whole.Records) {
		t.Fatalf("%s: %d tables for %d records", name, len(tabs.List), len(whole.Records))
	}
	byLine := map[int]*md.Record{}
	var reach md.Reachable
	for _, r := range whole.Records {
		byLine[r.Source.Line] = r
		reach = reach.Or(Reach(r))
	}
	if len(whole.Records) > 0 && *whole.Records[0].Settings.Reachable != reach {
		t.Errorf("%s: Reach of the records %+v, their settings say %+v", name, reach, *whole.Records[0].Settings.Reachable)
	}
	subsets := 1 << len(tabs.List)
	if limit > 0 && subsets > 1<<limit {
		subsets = 1 << limit
	}
	for mask := 0; mask < subsets; mask++ {
		known := map[int]Known{}
		var wantRecs []string
		inKnown := func(line int) bool {
			for i := range known {
				if line >= tabs.List[i].Line && line < tabs.List[i].Line+tabs.List[i].Lines {
					return true
				}
			}
			return false
		}
		for i, tb := range tabs.List {
			r := byLine[tb.Line]
			if r == nil {
				t.Fatalf("%s: no record at line %d", name, tb.Line)
			}
			if mask&(1<<i) != 0 {
				known[i] = Known{Names: r.Domains, Reach: Reach(r)}
			}
		}
		for _, r := range whole.Records { // in name order
			if !inKnown(r.Source.Line) {
				wantRecs = append(wantRecs, encode(t, r))
			}
		}
		var wantWarns []md.ConfigError
		for _, w := range whole.Warnings {
			if !inKnown(w.Line) {
				wantWarns = append(wantWarns, w)
			}
		}
		pc, got, err := tabs.ParseWithout(known, nil)
		if err != nil {
			t.Errorf("%s, known %b: %v", name, mask, err)
			continue
		}
		var gotRecs []string
		for _, r := range pc.Records {
			gotRecs = append(gotRecs, encode(t, r))
		}
		if !reflect.DeepEqual(gotRecs, wantRecs) {
			t.Errorf("%s, known %b: records\n%s\nwant\n%s", name, mask, strings.Join(gotRecs, "\n"), strings.Join(wantRecs, "\n"))
		}
		if !reflect.DeepEqual(pc.Warnings, wantWarns) && len(pc.Warnings)+len(wantWarns) > 0 {
			t.Errorf("%s, known %b: warnings\n%v\nwant\n%v", name, mask, pc.Warnings, wantWarns)
		}
		if got != reach || pc.StoreDir != whole.StoreDir {
			t.Errorf("%s, known %b: reach %+v store %q, want %+v %q", name, mask, got, pc.StoreDir, reach, whole.StoreDir)
		}
	}
}

func encode(t *testing.T, r *md.Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestParseWithoutOverlaps: a known table's names count against the
// tables read, before and after it, as in a whole read.
func TestParseWithoutOverlaps(t *testing.T) {
	text := "[[domain]]\ndomains = [\"a.test\"]\n[[domain]]\ndomains = [\"b.test\"]\n[[domain]]\ndomains = [\"x.c.test\"]\n"
	tabs, ok := Split("/etc/md.toml", []byte(text))
	if !ok {
		t.Fatal("not cut")
	}
	for _, tc := range []struct {
		name  string
		known map[int]Known
		err   string // "" none
	}{
		{"a read table repeats a known one's name", map[int]Known{0: {Names: []string{"b.test"}}}, "md.toml:4: domains: two Managed Domains have an overlap in domain 'b.test', first definition in /etc/md.toml(line 1), second in /etc/md.toml(line 3)"},
		{"a known wildcard covers a later name", map[int]Known{0: {Names: []string{"*.c.test"}}}, "md.toml:6: domains: two Managed Domains have an overlap in domain 'x.c.test'"},
		{"a known table repeats an earlier read name", map[int]Known{2: {Names: []string{"a.test"}}}, "md.toml:5: two Managed Domains have an overlap in domain 'a.test', first definition in /etc/md.toml(line 1), second in /etc/md.toml(line 5)"},
		{"a wildcard after the name it covers", map[int]Known{2: {Names: []string{"*.b.test"}}}, ""},
		{"known names apart", map[int]Known{0: {Names: []string{"z.test"}}, 2: {Names: []string{"y.test"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tabs.ParseWithout(tc.known, nil)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// FuzzParseWithout: Split never fails on any input, and for a file that
// reads whole, ParseWithout with some tables known makes the same
// records, warnings and reachability for the others.
func FuzzParseWithout(f *testing.F) {
	for _, text := range tablesConfigs {
		f.Add([]byte(text))
	}
	f.Add([]byte("[[domain]]\ndomains = [\"a\"]\nx = \"\"\"\n[[domain]]\n\"\"\"\n"))
	f.Add([]byte("[[domain]]\ndomains = ['a']\n[global]\nwebroot = '/srv'\n[[domain]]\ndomains = ['b']"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tabs, ok := Split("/etc/md.toml", data)
		if ok && tabs.List != nil {
			for i, sp := range tabs.spans {
				if sp[0] > sp[1] || sp[1] > len(data) || i > 0 && sp[0] < tabs.spans[i-1][1] {
					t.Fatalf("spans out of order: %v", tabs.spans)
				}
			}
		}
		checkParseWithout(t, "fuzz", data, 4)
	})
}

// BenchmarkSplit cuts an md.toml of 100,000 tables (what md-parse does
// on the run after an edit, and when it saves a run memo).
func BenchmarkSplit(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[global]\nstore-dir = \"/var/lib/md\"\nstapling = true\n")
	for i := range 100000 {
		fmt.Fprintf(&sb, "[[domain]]\ndomains = [\"d%d.bench.test\", \"www.d%d.bench.test\"]\n", i, i)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if tabs, ok := Split("/etc/mdtools/md.toml", data); !ok || len(tabs.List) != 100000 {
			b.Fatal("not cut into 100,000 tables")
		}
	}
}
