package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
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
		// a [[domain]] inserted above: the others are where they were
		// in the store, only their lines moved
		{"definitions moved", func(_ *testing.T, _ string, recs []*md.Record) {
			for _, r := range recs {
				r.Source.Line += 2
			}
		}, 3},
		{"config read by another path", func(_ *testing.T, _ string, recs []*md.Record) {
			recs[1].Source.File = "./md.toml"
		}, 3},
		{"definition without a source", func(_ *testing.T, _ string, recs []*md.Record) {
			recs[2].Source = nil
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
				for i, n := range []string{"a.test", "b.test", "c.test"} {
					recs = append(recs, &md.Record{MD: md.MD{Name: n, Domains: []string{n}, CA: &md.CA{Proto: md.ProtoACME}},
						Source: &md.Source{File: "md.toml", Line: 9 + 2*i}})
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
				l, ok := res.Lines[recs[i]]
				with := l.Append(nil, recs[i].Sources())
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

// TestReplayRunOverMonths follows md-parse's run memo through months of
// daily cron runs with the clock moved forward: ReplayRun answers while
// the store's memo holds every MD, stops when the answers expire (a week)
// or the store changes or the memo is damaged (a crash), and answers again
// once a sync has remembered the MDs anew; its lines are always what a
// sync without any memo prints.
func TestReplayRunOverMonths(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	names := []string{"a.test", "b.test"}
	mk := func() []*md.Record {
		var recs []*md.Record
		for i, n := range names {
			recs = append(recs, &md.Record{MD: md.MD{Name: n, Domains: []string{n}, CA: &md.CA{Proto: md.ProtoACME}},
				Source: &md.Source{File: "/etc/mdtools/md.toml", Line: 1 + 2*i}})
		}
		return recs
	}
	installCert := func(n string) {
		c := certtest.New(t, certtest.Spec{Names: []string{n}, NotAfter: time.Now().Add(90 * 24 * time.Hour)})
		writeAtomic(t, filepath.Join(dir, "domains", n, "pubcert.pem"), c.PEM())
		writeAtomic(t, filepath.Join(dir, "domains", n, "privkey.pem"), c.KeyPEM(t))
	}
	if _, err := Sync(t.Context(), st, mk(), Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		installCert(n)
	}
	if _, err := Sync(t.Context(), st, mk(), Options{}); err != nil {
		t.Fatal(err)
	}
	memotest.Age(t, dir)
	start := time.Now()
	var keys []memo.Key
	var root uint64
	// sync: a full md-parse run on day d; it must leave every MD remembered
	sync := func(d int) {
		t.Helper()
		m, err := OpenMemo(dir, "test")
		if err != nil {
			t.Logf("day %d: %v: an empty memo, as md-parse's", d, err)
		}
		defer m.Close()
		res, err := Sync(t.Context(), st, mk(), Options{Memo: m, Now: func() time.Time { return start.Add(time.Duration(d) * 24 * time.Hour) }})
		if err != nil || res.Keys == nil {
			t.Fatalf("day %d: sync %+v %v", d, res, err)
		}
		if err := m.Save(); err != nil {
			t.Fatal(err)
		}
		keys = res.Keys
		var settled bool
		if root, settled = RootFingerprint(m); !settled {
			t.Fatalf("day %d: root files not settled", d)
		}
	}
	replay := func(d int) bool {
		t.Helper()
		m, err := OpenMemo(dir, "test")
		if err != nil { // md-parse reads the config then
			m.Close()
			return false
		}
		defer m.Close()
		lines, ok, err := ReplayRun(t.Context(), st, m, names, keys, []int{1, 1}, root, Options{Now: func() time.Time { return start.Add(time.Duration(d) * 24 * time.Hour) }})
		if err != nil {
			t.Fatalf("day %d: %v", d, err)
		}
		if ok {
			plain := mk()
			if _, err := Sync(t.Context(), st, plain, Options{DryRun: true}); err != nil {
				t.Fatal(err)
			}
			for i, r := range plain {
				want, _ := r.Redacted().MarshalJSON()
				if got := lines[i].Append(nil, r.Sources()); string(got) != string(want) {
					t.Errorf("day %d, %s: replayed\n%s\nwithout memo\n%s", d, r.Name, got, want)
				}
			}
		}
		return ok
	}
	sync(0)
	for _, step := range []struct {
		day    int
		before func()
		want   bool
	}{
		{1, nil, true},
		{6, nil, true},
		{8, nil, false}, // a week after the answers: expired
		{8, func() { sync(8) }, true},
		{14, nil, true},
		{15, func() { installCert("b.test"); memotest.Age(t, dir) }, false}, // renewed
		{15, func() { sync(15) }, true},
		{40, func() { sync(40) }, true}, // a month on, after a sync
		{41, func() { os.WriteFile(filepath.Join(dir, memo.FileName("parse")), []byte("torn by a crash"), 0o600) }, false},
		{41, func() { sync(41) }, true},
		{90, func() { sync(90) }, true},
	} {
		if step.before != nil {
			step.before()
		}
		if got := replay(step.day); got != step.want {
			t.Errorf("day %d: replayed %v, want %v", step.day, got, step.want)
		}
	}
}
