package memo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func sampleRun() *Run {
	return &Run{
		Key:             RunKeyOf("md-parse", "/etc/md.toml", "/"),
		Inputs:          []Input{{Name: "/etc/md.toml", Sum: 7}, {Env: true, Name: "X", Sum: 9}},
		StoreDir:        "/var/lib/mdtools",
		DefaultStoreDir: "",
		Store:           "/var/lib/mdtools",
		Warnings: []Warning{
			{File: "/etc/md.toml", Line: 3, Msg: "a.test has no way to answer an ACME challenge"},
			{File: "/etc/md.toml", Line: 5, Msg: "b.test has no way to answer an ACME challenge"},
			{File: "md-parse", Line: 0, Msg: "alone"},
		},
		Names: []string{"a.test", "b.test", "c.test", "d.test"},
		Keys:  []Key{{1}, {2}, {3}, {4}},
		Sources: [][]Source{{{File: "/etc/md.toml", Line: 3}}, {},
			{{File: "/etc/conf.d/c.conf", Line: 1}, {File: "/etc/md.toml", Line: 7}, {File: "/etc/conf.d/c.conf", Line: 5}},
			{{File: "/etc/md.toml", Line: 9}}},
		Root: 42,
		Tables: []RunTable{{Sum: [16]byte{1}, Lines: 2, Reach: 1, Names: []string{"www.a.test"}}, {Sum: [16]byte{2}, Lines: 3},
			{Sum: [16]byte{3}, Lines: 1, Reach: 3}, {Sum: [16]byte{4}, Lines: 9, Names: []string{"x.d.test", "y.d.test"}}},
	}
}

func TestRunRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	in := sampleRun()
	if err := SaveRun(dir, in, "v1"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, RunFileName(in.Key))); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("run file: %v %v", fi.Mode(), err)
	}
	out, err := LoadRun(dir, in.Key, "v1")
	if err != nil || out == nil {
		t.Fatalf("LoadRun: %v %v", out, err)
	}
	got := slices.Collect(out.AllWarnings())
	if !reflect.DeepEqual(got, in.Warnings) {
		t.Errorf("warnings\n%+v\nwant\n%+v", got, in.Warnings)
	}
	out.warnings, in.Warnings = nil, nil
	if !reflect.DeepEqual(out, in) {
		t.Errorf("loaded\n%+v\nwant\n%+v", out, in)
	}
	if r, err := LoadRun(dir, in.Key, "v2"); r != nil || !errors.Is(err, errOtherBuild) {
		t.Errorf("another build's run memo: %v %v", r, err)
	}
	// an older format (an upgrade) is another build's too, not damage
	file := filepath.Join(dir, RunFileName(in.Key))
	data, _ := os.ReadFile(file)
	old := append([]byte(runMagicName+"1\n"), data[len(runMagic):]...)
	if err := os.WriteFile(file, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := LoadRun(dir, in.Key, "v1"); r != nil || !errors.Is(err, errOtherBuild) {
		t.Errorf("a run memo of format 1: %v %v", r, err)
	}
	if r, err := LoadRun(dir, RunKeyOf("other"), "v1"); r != nil || err != nil {
		t.Errorf("a run never saved: %v %v", r, err)
	}
}

// TestRunRefused: a run memo names the store md-parse's output points
// to, so one that another user could have written, or that is not what
// was saved, is never used.
func TestRunRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir, file string)
	}{
		{"corrupt", func(t *testing.T, _, file string) {
			data, _ := os.ReadFile(file)
			data[len(data)/2] ^= 1
			os.WriteFile(file, data, 0o600)
		}},
		{"truncated", func(t *testing.T, _, file string) {
			data, _ := os.ReadFile(file)
			os.WriteFile(file, data[:len(data)-9], 0o600)
		}},
		{"a symlink", func(t *testing.T, dir, file string) {
			os.Rename(file, file+".real")
			os.Symlink(file+".real", file)
		}},
		{"a FIFO", func(t *testing.T, dir, file string) {
			os.Remove(file)
			if err := unix.Mkfifo(file, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory writable by others", func(t *testing.T, dir, _ string) { os.Chmod(dir, 0o777) }},
		{"directory a symlink", func(t *testing.T, dir, _ string) {
			os.Rename(dir, dir+".real")
			os.Symlink(dir+".real", dir)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			r := sampleRun()
			if err := SaveRun(dir, r, "v1"); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, dir, filepath.Join(dir, RunFileName(r.Key)))
			if got, err := LoadRun(dir, r.Key, "v1"); got != nil || err == nil {
				t.Errorf("loaded %+v, err %v", got, err)
			}
		})
	}
}

func TestInputsChanged(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "md.toml")
	os.WriteFile(conf, []byte("a"), 0o600)
	sub := filepath.Join(dir, "conf.d")
	os.Mkdir(sub, 0o700)
	missing := filepath.Join(dir, "optional.conf")
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{conf, sub, dir} {
		os.Chtimes(p, old, old)
	}
	env := map[string]string{"X": "1"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	in := NewInputs()
	in.Path(conf)
	in.Path(sub)
	in.Path(missing)
	in.Env("X", "1", true)
	in.Env("UNSET", "", false)
	list, settled := in.List()
	if !settled || len(list) != 5 {
		t.Fatalf("settled %v, %d inputs", settled, len(list))
	}
	if c := Changed(list, getenv); c != "" {
		t.Fatalf("nothing changed, but %q did", c)
	}
	for _, tc := range []struct {
		name, want string
		change     func()
	}{
		{"file rewritten in place, same size", conf, func() { os.WriteFile(conf, []byte("b"), 0o600) }},
		{"file replaced", conf, func() {
			os.WriteFile(conf+".new", []byte("a"), 0o600)
			os.Rename(conf+".new", conf)
		}},
		{"entry added to a listed directory", sub, func() { os.WriteFile(filepath.Join(sub, "x.conf"), nil, 0o600) }},
		{"optional file created", missing, func() { os.WriteFile(missing, nil, 0o600) }},
		{"variable changed", "$X", func() { env["X"] = "2" }},
		{"variable set", "$UNSET", func() { env["UNSET"] = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := map[string]string{}
			for k, v := range env {
				saved[k] = v
			}
			tc.change()
			if c := Changed(list, getenv); c != tc.want {
				t.Errorf("Changed = %q, want %q", c, tc.want)
			}
			env = saved
			list = nil
			in := NewInputs()
			in.Path(conf)
			in.Path(sub)
			in.Path(missing)
			in.Env("X", env["X"], true)
			in.Env("UNSET", "", false)
			list, _ = in.List()
		})
	}
	fresh := NewInputs()
	fresh.Path(conf) // written just now
	if _, settled := fresh.List(); settled {
		t.Error("a file modified within Margin counts as settled")
	}
}

func TestCacheDir(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		euid int
		want string
	}{
		{map[string]string{CacheEnv: "/c", "HOME": "/root"}, 0, "/c"},
		{map[string]string{"HOME": "/root"}, 0, "/var/cache/mdtools"},
		{map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/home/u"}, 1000, "/x/mdtools"},
		{map[string]string{"XDG_CACHE_HOME": "rel", "HOME": "/home/u"}, 1000, "/home/u/.cache/mdtools"},
		{map[string]string{}, 1000, ""},
	} {
		if got := CacheDir(func(k string) string { return tc.env[k] }, tc.euid); got != tc.want {
			t.Errorf("CacheDir(%v, %d) = %q, want %q", tc.env, tc.euid, got, tc.want)
		}
	}
}

func TestSweepRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	old, fresh := sampleRun(), sampleRun()
	old.Key, fresh.Key = RunKeyOf("old"), RunKeyOf("fresh")
	if err := SaveRun(dir, old, "v1"); err != nil {
		t.Fatal(err)
	}
	longAgo := time.Now().Add(-runLife - time.Hour)
	os.Chtimes(filepath.Join(dir, RunFileName(old.Key)), longAgo, longAgo)
	stale := filepath.Join(dir, RunFileName(fresh.Key)+".123.tmp")
	os.WriteFile(stale, nil, 0o600)
	os.Chtimes(stale, longAgo, longAgo)
	if err := SaveRun(dir, fresh, "v1"); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 1 || filepath.Base(names[0]) != RunFileName(fresh.Key) {
		t.Errorf("after the sweep: %v", names)
	}
}

// FuzzDecodeRun decodes what the checksum would let through.
func FuzzDecodeRun(f *testing.F) {
	enc := encodeRun(sampleRun(), "v1")
	f.Add(enc[len(runMagic) : len(enc)-4])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRunBody(data, "v1")
		if err != nil {
			return
		}
		for range r.AllWarnings() {
		}
		if len(r.Tables) != 0 && len(r.Tables) != len(r.Names) {
			t.Fatalf("%d names, %d tables", len(r.Names), len(r.Tables))
		}
		if len(r.Names) != len(r.Keys) {
			t.Fatalf("%d names, %d keys", len(r.Names), len(r.Keys))
		}
		for _, n := range r.Names {
			if !validName(n) {
				t.Fatalf("name %q accepted", n)
			}
		}
	})
}
