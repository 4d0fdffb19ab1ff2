package cli

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

func recsIn(stores ...string) []*md.Record {
	var recs []*md.Record
	for i, s := range stores {
		r := &md.Record{Store: s}
		r.Name = []string{"a.test", "b.test", "c.test"}[i]
		recs = append(recs, r)
	}
	return recs
}

// TestChooseStore is the store rule of issue 11 items 6 and 7: the records
// decide; an explicit --store or --config that disagrees is a usage error
// naming both; $MD_STORE is only noted; without records the config's
// MDStoreDir, then --store, $MD_STORE, ServerRoot/md, the default.
func TestChooseStore(t *testing.T) {
	apache := &md.ParsedConfig{DefaultStoreDir: "/etc/apache2/md"}
	apacheDir := &md.ParsedConfig{StoreDir: "/srv/md", DefaultStoreDir: "/etc/apache2/md"}
	toml := &md.ParsedConfig{}
	tests := []struct {
		name     string
		sc       StoreChoice
		want     string
		from     string // part of From
		errWords []string
		note     string // part of a note or warning
	}{
		{name: "records", sc: StoreChoice{Records: recsIn("/srv/md", "/srv/md")}, want: "/srv/md", from: "records"},
		{name: "records and the same --store spelled differently", sc: StoreChoice{Records: recsIn("/srv/md"), Flag: "/srv/./md/"}, want: "/srv/md", from: "records"},
		{name: "records and another --store", sc: StoreChoice{Records: recsIn("/srv/md"), Flag: "/var/lib/mdtools"},
			errWords: []string{"--store /var/lib/mdtools", "/srv/md", "a.test"}},
		{name: "records and another $MD_STORE", sc: StoreChoice{Records: recsIn("/srv/md"), Env: "/var/lib/mdtools"}, want: "/srv/md", from: "records",
			note: "$MD_STORE=/var/lib/mdtools ignored"},
		{name: "records naming two stores", sc: StoreChoice{Records: recsIn("/srv/md", "", "/srv/other")},
			errWords: []string{"two stores", "/srv/md (a.test)", "/srv/other (c.test)"}},
		{name: "records naming a relative store", sc: StoreChoice{Records: recsIn("md")}, errWords: []string{"a.test", "absolute", `"md"`}},
		{name: "records and a --config naming another", sc: StoreChoice{Records: recsIn("/srv/other"), ConfigFile: "apache2.conf", Config: apacheDir},
			errWords: []string{"--config apache2.conf", "/srv/md", "/srv/other"}},
		{name: "records and the same --config", sc: StoreChoice{Records: recsIn("/srv/md"), ConfigFile: "apache2.conf", Config: apacheDir}, want: "/srv/md", from: "records"},
		{name: "records without a store use --store", sc: StoreChoice{Records: recsIn("", ""), Flag: "/x"}, want: "/x", from: "--store"},
		{name: "MDStoreDir beats --store", sc: StoreChoice{Flag: "/x", Env: "/y", ConfigFile: "apache2.conf", Config: apacheDir}, want: "/srv/md", from: "MDStoreDir",
			note: "--store /x ignored"},
		{name: "--store beats $MD_STORE and ServerRoot/md", sc: StoreChoice{Flag: "/x", Env: "/y", ConfigFile: "apache2.conf", Config: apache}, want: "/x", from: "--store"},
		{name: "$MD_STORE beats ServerRoot/md", sc: StoreChoice{Env: "/y", ConfigFile: "apache2.conf", Config: apache}, want: "/y", from: "$MD_STORE"},
		{name: "Apache without MDStoreDir: ServerRoot/md", sc: StoreChoice{ConfigFile: "apache2.conf", Config: apache}, want: "/etc/apache2/md", from: "ServerRoot"},
		{name: "md.toml without store-dir: the default", sc: StoreChoice{ConfigFile: "md.toml", Config: toml}, from: "the default"},
		{name: "relative --store is made absolute", sc: StoreChoice{Flag: "rel"}, want: mustAbs(t, "rel"), from: "--store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := ChooseStore(tc.sc)
			if tc.errWords != nil {
				var ue *UsageError
				if !errors.As(err, &ue) {
					t.Fatalf("got %+v, %v; want a usage error", ch, err)
				}
				for _, w := range tc.errWords {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && ch.Dir != tc.want {
				t.Errorf("dir %q; want %q", ch.Dir, tc.want)
			}
			if !filepath.IsAbs(ch.Dir) {
				t.Errorf("dir %q is not absolute", ch.Dir)
			}
			if !strings.Contains(ch.From, tc.from) {
				t.Errorf("from %q; want it to say %q", ch.From, tc.from)
			}
			said := strings.Join(append(ch.Notes, ch.Warns...), "\n")
			if tc.note != "" && !strings.Contains(said, tc.note) || tc.note == "" && said != "" {
				t.Errorf("notes %q; want %q", said, tc.note)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestReadRecordsLowersNames: mod_md lower-cases MD names and domains, so
// "A.MIXED.test" must never become domains/A.MIXED.test (issue 11 item 11).
func TestReadRecordsLowersNames(t *testing.T) {
	in := `{"name":"A.MIXED.test","domains":["A.MIXED.test","WWW.Mixed.Test"]}` + "\n"
	recs, err := ReadRecords(strings.NewReader(in), "stdin", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].Name + " " + strings.Join(recs[0].Domains, " "); got != "a.mixed.test a.mixed.test www.mixed.test" {
		t.Errorf("got %q; want lower case", got)
	}
}
