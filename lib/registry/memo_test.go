package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo/memotest"
	"github.com/mdtools/mdtools/lib/store"
)

// TestMemoSync is issue 17's proof for md-parse's memo: after a store
// change, Sync with the memo completes every record as Sync without it,
// and replays only the MDs the change did not touch.
func TestMemoSync(t *testing.T) {
	certKey := func(t *testing.T, names ...string) ([]byte, []byte) {
		c := certtest.New(t, certtest.Spec{Names: names, NotAfter: time.Now().Add(90 * 24 * time.Hour)})
		return c.PEM(), c.KeyPEM(t)
	}
	for _, tc := range []struct {
		name     string
		change   func(t *testing.T, dir string, recs []*md.Record)
		replayed int
	}{
		{"nothing", func(*testing.T, string, []*md.Record) {}, 3},
		{"certificate removed", func(t *testing.T, dir string, _ []*md.Record) {
			os.Remove(filepath.Join(dir, "domains", "a.test", "pubcert.pem"))
		}, 2},
		{"certificate for other names", func(t *testing.T, dir string, _ []*md.Record) {
			cert, key := certKey(t, "other.test")
			writeAtomic(t, filepath.Join(dir, "domains", "a.test", "pubcert.pem"), cert)
			writeAtomic(t, filepath.Join(dir, "domains", "a.test", "privkey.pem"), key)
		}, 2},
		{"account set in md.json", func(t *testing.T, dir string, _ []*md.Record) {
			p := filepath.Join(dir, "domains", "a.test", "md.json")
			var m map[string]any
			data, _ := os.ReadFile(p)
			json.Unmarshal(data, &m)
			m["ca"].(map[string]any)["account"] = "ACME-example-0007"
			data, _ = json.Marshal(m)
			writeAtomic(t, p, data)
		}, 2},
		{"configuration changed", func(_ *testing.T, _ string, recs []*md.Record) {
			recs[0].Domains = append(recs[0].Domains, "www.a.test")
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := store.Open(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			mk := func() []*md.Record {
				var recs []*md.Record
				for _, n := range []string{"a.test", "b.test", "c.test"} {
					recs = append(recs, &md.Record{MD: md.MD{Name: n, Domains: []string{n}, CA: &md.CA{Proto: md.ProtoACME}}})
				}
				return recs
			}
			if _, err := Sync(t.Context(), st, mk(), Options{}); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"a.test", "b.test", "c.test"} {
				cert, key := certKey(t, n)
				writeAtomic(t, filepath.Join(dir, "domains", n, "pubcert.pem"), cert)
				writeAtomic(t, filepath.Join(dir, "domains", n, "privkey.pem"), key)
			}
			if _, err := Sync(t.Context(), st, mk(), Options{}); err != nil { // state complete
				t.Fatal(err)
			}
			memotest.Age(t, dir)
			m, err := OpenMemo(dir, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if res, err := Sync(t.Context(), st, mk(), Options{Memo: m}); err != nil || res.Replayed != 0 || m.Len() != 3 {
				t.Fatalf("writing the memo: %+v %v, %d remembered", res, err, m.Len())
			}
			recs, plain := mk(), mk()
			tc.change(t, dir, recs)
			tc.change(t, dir, plain)
			res, err := Sync(t.Context(), st, recs, Options{Memo: m, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Sync(t.Context(), st, plain, Options{DryRun: true}); err != nil {
				t.Fatal(err)
			}
			if res.Replayed != tc.replayed || len(res.Lines) != tc.replayed {
				t.Errorf("%d replayed (%d lines), want %d", res.Replayed, len(res.Lines), tc.replayed)
			}
			// the output md-parse writes: the remembered line, or the record
			for i := range recs {
				with, ok := res.Lines[recs[i]]
				if !ok {
					with, _ = recs[i].Redacted().MarshalJSON()
				}
				without, _ := plain[i].Redacted().MarshalJSON()
				if string(with) != string(without) {
					t.Errorf("%s: with the memo\n%s\nwithout\n%s", recs[i].Name, with, without)
				}
			}
		})
	}
}

// writeAtomic replaces a file as the store does (a new inode by rename).
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	writeFile(t, path+".new", data)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}
