package memo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKeyOfSkipsAtValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{`{"name":"a","order":{"at":"Sun, 06 Dec 2026 22:15:33 GMT"}}`, `{"name":"a","order":{"at":"Mon, 07 Dec 2026 01:00:00 GMT"}}`, true},
		{`{"name":"a"}`, `{"name":"b"}`, false},
		{`{"name":"a","order":{"at":"x","renew-at":"1"}}`, `{"name":"a","order":{"at":"y","renew-at":"2"}}`, false},
		{`{"name":"a","x":"at"}`, `{"name":"a","x":"at"}`, true},
		{`{"name":"a","order":{"at":"unterminated`, `{"name":"a","order":{"at":"other`, true},
		{`{"name":"a","source":{"file":"md.toml","line":9},"x":1}`, `{"name":"a","source":{"file":"/etc/md.toml","line":9},"x":1}`, true},
		{`{"name":"a","source":{"file":"a}\"b","line":9},"x":1}`, `{"name":"a","source":{"file":"c","line":1},"x":1}`, true},
		{`{"name":"a","source":{"file":"a","line":9},"x":1}`, `{"name":"a","source":{"file":"a","line":9},"x":2}`, false},
		{`{"name":"a","staple":{"responses":[{"source":"ocsp"}]}}`, `{"name":"a","staple":{"responses":[{"source":"crl"}]}}`, false},
	} {
		if got := KeyOf([]byte(tc.a)) == KeyOf([]byte(tc.b)); got != tc.same {
			t.Errorf("KeyOf(%s) == KeyOf(%s): %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestSplitOutput(t *testing.T) {
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in, out string
		ok      bool
		want    string
	}{
		{`{"name":"a"}`, `{"name":"a","order":{"action":"none","at":"Sun, 06 Dec 2026 22:15:33 GMT","renew-at":"x"}}`, true,
			`{"name":"a","order":{"action":"none","at":"Sat, 02 Jan 2027 03:04:05 GMT","renew-at":"x"}}`},
		{`{"name":"a"}`, `{"name":"a","install":{"action":"none"}}`, true, `{"name":"a","install":{"action":"none"}}`},
		{`{"name":"a"}  `, `{"name":"a","x":1}`, true, `{"name":"a","x":1}`},
		{`{"name":"a","order":{}}`, `{"name":"a","order":{"action":"none"}}`, false, ""}, // rewritten, not added to
		{`{"name":"a"}`, `{"name":"b","x":1}`, false, ""},
		{`{"name":"a"}`, `{"name":"a"}`, false, ""},
		{`{"name":"a"}`, `{"name":"a","o":{"at":"1"},"p":{"at":"2"}}`, false, ""},
	} {
		e, ok := Split([]byte(tc.in), []byte(tc.out))
		if ok != tc.ok {
			t.Errorf("Split(%s, %s): ok %v", tc.in, tc.out, ok)
			continue
		}
		if ok {
			if got := string(e.Output([]byte(tc.in), now)); got != tc.want {
				t.Errorf("Output: %s\nwant     %s", got, tc.want)
			}
		}
	}
}

// TestLookupRules: an entry is used only in its time window, with the
// same fingerprint, and survives Save and Open; another context, store key
// or a changed path makes it unusable.
func TestLookupRules(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"domains/a.test", "staging"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	os.WriteFile(filepath.Join(dir, "md_store.json"), []byte(`{}`), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "domains/a.test"), old, old)
	paths := func(name string) []Path {
		return []Path{{Group: "domains", Name: name}, {Group: "staging", Name: name}, {Name: "revoked-" + name + ".json"}}
	}
	m, err := Open(dir, "order", "v1")
	if err != nil {
		t.Fatal(err)
	}
	sum, settled := m.Fingerprint(paths("a.test"), nil)
	if !settled {
		t.Fatal("an hour-old directory is not settled")
	}
	now := time.Now()
	key := KeyOf([]byte(`{"name":"a.test"}`))
	m.Put(key, &Entry{Name: "a.test", Stat: sum, Decided: now.UnixNano(), Until: now.Add(time.Hour).UnixNano(), TailA: []byte(`,"x":1}`)})
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	reopen := func(context string) *Memo {
		m, err := Open(dir, "order", context)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		return m
	}
	m = reopen("v1")
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{now, true}, {now.Add(59 * time.Minute), true}, {now.Add(time.Hour), false}, {now.Add(-time.Second), false}} {
		if _, ok := m.Lookup(key, tc.at, paths); ok != tc.want {
			t.Errorf("Lookup at %v: %v, want %v", tc.at.Sub(now), ok, tc.want)
		}
	}
	if _, ok := reopen("v2").Lookup(key, now, paths); ok {
		t.Error("a memo of another version was used")
	}
	os.WriteFile(filepath.Join(dir, "revoked-a.test.json"), []byte(`{}`), 0o600)
	if _, ok := reopen("v1").Lookup(key, now, paths); ok {
		t.Error("a new file among the paths went unseen")
	}
	os.Remove(filepath.Join(dir, "revoked-a.test.json"))
	if _, ok := reopen("v1").Lookup(key, now, paths); !ok {
		t.Error("the same paths again: not used")
	}
	os.WriteFile(filepath.Join(dir, "md_store.json"), []byte(`{"key":1}`), 0o600)
	if _, ok := reopen("v1").Lookup(key, now, paths); ok {
		t.Error("a memo made under another md_store.json was used")
	}
	// not a memo at all: said (and ignored), not taken for another version
	os.WriteFile(filepath.Join(dir, FileName("order")), []byte("garbage, not a memo"), 0o600)
	if m, err := Open(dir, "order", "v1"); err == nil || m.Len() != 0 {
		t.Errorf("a file that is no memo: %v, %d entries", err, m.Len())
	} else {
		m.Close()
	}
}

func TestFingerprintSettled(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "domains", "a.test"), 0o700)
	m, _ := Open(dir, "order", "v1")
	defer m.Close()
	if _, settled := m.Fingerprint([]Path{{Group: "domains", Name: "a.test"}}, nil); settled {
		t.Error("a directory made just now counts as settled")
	}
	if _, settled := m.Fingerprint([]Path{{Group: "domains", Name: "missing"}, {Group: "nogroup", Name: "x"}}, nil); !settled {
		t.Error("absent paths are not settled")
	}
}

// TestFingerprintUnlisted: asking for every path gives the sum the
// listings give, for paths that are there and paths that are not.
func TestFingerprintUnlisted(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"domains/a.test", "staging/b.test", "tmp"} {
		os.MkdirAll(filepath.Join(dir, p), 0o700)
	}
	os.WriteFile(filepath.Join(dir, "httpd.json"), []byte(`{}`), 0o600)
	os.WriteFile(filepath.Join(dir, "ari-a.test.json"), []byte(`{}`), 0o600)
	m, _ := Open(dir, "order", "v1")
	defer m.Close()
	for _, paths := range [][]Path{
		{{Name: "httpd.json"}},
		{{Name: "missing.json"}},
		{{Group: "domains", Name: "a.test"}, {Group: "staging", Name: "a.test"}, {Group: "staging", Name: "b.test"},
			{Group: "tmp", Name: "a.test"}, {Name: "ari-a.test.json"}, {Name: "revoked-a.test.json"}},
	} {
		listed, _ := m.Fingerprint(paths, nil)
		asked, _ := m.FingerprintUnlisted(paths)
		if listed != asked {
			t.Errorf("%v: listed %x, asked %x", paths, listed, asked)
		}
	}
}

func TestPutForget(t *testing.T) {
	m, _ := Open(t.TempDir(), "order", "v1")
	defer m.Close()
	k1, k2 := KeyOf([]byte("1")), KeyOf([]byte("2"))
	m.Put(k1, &Entry{Name: "a"})
	m.Put(k2, &Entry{Name: "a"}) // a new input for the same MD replaces the old
	m.Put(k1, &Entry{Name: "../x"})
	if m.Len() != 1 {
		t.Errorf("%d entries, want 1", m.Len())
	}
	m.Forget("a")
	if m.Len() != 0 {
		t.Errorf("%d entries after Forget", m.Len())
	}
}

func TestKeep(t *testing.T) {
	dir := t.TempDir()
	m, _ := Open(dir, "status", "v1")
	for _, name := range []string{"a", "b", "c"} {
		m.Put(KeyOf([]byte(name)), &Entry{Name: name, Until: 1 << 62})
	}
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m, _ = Open(dir, "status", "v1") // entries of the file and of this run
	defer m.Close()
	m.Put(KeyOf([]byte("d")), &Entry{Name: "d", Until: 1 << 62})
	if n := m.Keep(func(name string) bool { return name == "b" || name == "d" }); n != 2 || m.Len() != 2 {
		t.Errorf("Keep forgot %d, %d left; want 2, 2", n, m.Len())
	}
	if n := m.Keep(func(string) bool { return true }); n != 0 {
		t.Errorf("Keep of all forgot %d", n)
	}
}

func FuzzDecode(f *testing.F) {
	m, _ := Open(f.TempDir(), "order", "v1")
	m.Put(KeyOf([]byte("x")), &Entry{Name: "a.test", Until: 1 << 62, Extra: []string{"/d/cert.pem"}, TailA: []byte(`,"x":1}`), HasAt: true, TailB: []byte("}")})
	f.Add(m.encode())
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := &Memo{context: "v1", byKey: map[Key]*Entry{}}
		if err := n.decode(data); err == nil {
			if again := n.encode(); n.Len() > 0 && !bytes.HasPrefix(again, []byte(magic)) {
				t.Fatal("re-encoding lost the header")
			}
		}
	})
}

func FuzzKeyOf(f *testing.F) {
	f.Add([]byte(`{"name":"a","source":{"file":"a}\"b","line":9},"order":{"at":"x"}}`))
	f.Add([]byte(`"source":{"x":"\`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if KeyOf(line) != KeyOf(bytes.Clone(line)) {
			t.Fatal("KeyOf is not a function of the bytes")
		}
	})
}

// FuzzSkipEntry: Open's index (skipEntry) accepts, sizes and names an
// entry exactly as decoding it does.
func FuzzSkipEntry(f *testing.F) {
	m, _ := Open(f.TempDir(), "order", "v1")
	m.Put(KeyOf([]byte("x")), &Entry{Name: "a.test", RecStore: "/s", Until: 1 << 62, Extra: []string{"/d/cert.pem", "/d/ocsp"},
		TailA: []byte(`,"x":1}`), HasAt: true, TailB: []byte("}")})
	whole := m.encode()
	body := whole[:len(whole)-4]
	r := &reader{b: body[len(magic):]}
	r.str()
	r.u64()
	r.u32()
	f.Add(r.b)                               // one valid entry
	f.Add(append(bytes.Clone(r.b), 0, 1, 2)) // and bytes after it
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		size, e, err := decodeEntry(b)
		skipped, name, ok := skipEntry(b)
		if ok != (err == nil) {
			t.Fatalf("skipEntry ok %v, decodeEntry error %v", ok, err)
		}
		if ok && (skipped != size || string(name) != e.Name) {
			t.Fatalf("skipEntry: %d bytes, name %q; decodeEntry: %d bytes, name %q", skipped, name, size, e.Name)
		}
	})
}
