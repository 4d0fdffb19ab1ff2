package memo

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkOpen: opening a stage's memo of 10,000 MDs (entries the size
// of md-staple's, about 600 bytes) and looking each MD up, as a no-op run
// starts; -benchmem shows what indexing the file allocates.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	m, err := Open(dir, "staple", "v1")
	if err != nil {
		b.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UnixNano()
	tail := []byte(`,"staple":{"responses":[` + strings.Repeat(`{"status":"good"},`, 25) + `{}]}`)
	const n = 10000
	keys := make([]Key, n)
	for i := range n {
		name := fmt.Sprintf("d%d.bench.test", i)
		keys[i] = KeyOf([]byte(name))
		m.Put(keys[i], &Entry{Name: name, RecStore: "/var/lib/md", Until: until, TailA: tail, TailB: []byte("}"), HasAt: true,
			Extra: []string{"/deploy/" + name + "/cert.pem", "/deploy/" + name + "/ocsp.der"}})
	}
	if err := m.Save(); err != nil {
		b.Fatal(err)
	}
	m.Close()
	b.ResetTimer()
	for range b.N {
		m, err := Open(dir, "staple", "v1")
		if err != nil || m.Len() != n {
			b.Fatalf("%d entries, %v", m.Len(), err)
		}
		for _, k := range keys {
			if _, ok := m.Candidate(k, time.Now()); !ok {
				b.Fatal("an entry is missing")
			}
		}
		m.Close()
	}
}
