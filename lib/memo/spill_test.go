package memo

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"
)

// spillOps runs one table of Puts, Forgets and Lookups on a memo of the
// store directory dir (after a memo file of older answers), saves it and
// returns what a reopened memo holds, by name. inMemory keeps this run's
// answers as objects (the fallback when no spill file can be made).
func spillOps(t *testing.T, dir string, now time.Time, inMemory bool) map[string]Entry {
	t.Helper()
	later := now.Add(time.Hour).UnixNano()
	old, err := Open(dir, "order", "v1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		old.Put(KeyOf(fmt.Appendf(nil, "old %d", i)), &Entry{Name: fmt.Sprintf("md%d", i), Decided: now.UnixNano(), Until: later, TailA: []byte("old")})
	}
	if err := old.Save(); err != nil {
		t.Fatal(err)
	}
	old.Close()

	m, err := Open(dir, "order", "v1")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if inMemory {
		m.spillTried = true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[Key]Entry{}
	for i := range 3000 {
		name := fmt.Sprintf("md%d", rng.IntN(400))
		key := KeyOf(fmt.Appendf(nil, "%s %d", name, rng.IntN(3)))
		switch op := rng.IntN(10); {
		case op == 0:
			m.Forget(name)
			for k, e := range want {
				if e.Name == name {
					delete(want, k)
				}
			}
		default:
			e := Entry{Name: name, RecStore: "/s", Stat: rng.Uint64(), Decided: now.UnixNano(), Until: later,
				TailA: fmt.Appendf(nil, `,"n":%d`, i), TailB: []byte("}"), HasAt: op%2 == 0}
			if op == 9 {
				e.Until = now.Add(-time.Second).UnixNano() // time up: not saved
			}
			if op == 8 {
				e.Extra = []string{"/deploy/" + name + "/cert.pem"}
			}
			m.Put(key, &e)
			for k, o := range want {
				if o.Name == name {
					delete(want, k)
				}
			}
			want[key] = e
		}
		if i%97 == 0 { // this run's own answers read back
			for k, e := range want {
				got, ok := m.Candidate(k, now)
				if e.Until <= now.UnixNano() {
					continue
				}
				if !ok || !reflect.DeepEqual(*got, e) {
					t.Fatalf("op %d: Candidate(%s) = %+v, %v; want %+v", i, e.Name, got, ok, e)
				}
				break
			}
		}
	}
	if inMemory == (m.spill != nil) {
		t.Fatalf("spill file in use: %v, want %v", m.spill != nil, !inMemory)
	}
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != "memo-order.bin" {
		t.Errorf("store directory holds %v, want only memo-order.bin (the spill file is unlinked)", names)
	}
	m.Close()

	r, err := Open(dir, "order", "v1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string]Entry{}
	for k, e := range want {
		if e.Until <= now.UnixNano() {
			delete(want, k)
			continue
		}
		if g, ok := r.Candidate(k, now); ok {
			got[g.Name] = *g
		}
	}
	if r.Len() != len(want) {
		t.Errorf("reopened memo holds %d answers, want %d", r.Len(), len(want))
	}
	for _, e := range want {
		if g, ok := got[e.Name]; !ok || !reflect.DeepEqual(g, e) {
			t.Errorf("%s: reopened %+v (%v), want %+v", e.Name, g, ok, e)
		}
	}
	return got
}

// TestSpill: answers kept in the spill file are read back, replaced,
// forgotten and saved exactly as answers kept in memory, over a memo file
// of older answers; the spill file is never seen in the store.
func TestSpill(t *testing.T) {
	now := time.Now()
	spilled := spillOps(t, t.TempDir(), now, false)
	held := spillOps(t, t.TempDir(), now, true)
	if len(spilled) < 100 || !reflect.DeepEqual(spilled, held) {
		var a, b []string
		for n := range spilled {
			a = append(a, n)
		}
		for n := range held {
			b = append(b, n)
		}
		sort.Strings(a)
		sort.Strings(b)
		t.Errorf("spilled and held runs saved different memos:\n%v\n%v", a, b)
	}
}

// TestSpillGoneOnClose: a run that never saves leaves nothing behind.
func TestSpillGoneOnClose(t *testing.T) {
	dir := t.TempDir()
	m, _ := Open(dir, "install", "v1")
	m.Put(KeyOf([]byte("a")), &Entry{Name: "a", Until: 1 << 62})
	if m.spill == nil {
		t.Fatal("no spill file")
	}
	m.Close()
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("store directory holds %v after Close", names)
	}
}
