package devca

import (
	"net"
	"strconv"
	"testing"
)

// FreePorts hands out distinct ports below the ephemeral range that no
// other process (another open file: flock excludes it like a process)
// can reserve meanwhile, and that are bindable.
func TestFreePortsReserved(t *testing.T) {
	ports, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	more, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := portLockDir()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range append(ports, more...) {
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
		if p < lowestPort || p >= ephemeralStart() {
			t.Errorf("port %d outside [%d, %d)", p, lowestPort, ephemeralStart())
		}
		if f := reserve(dir, p); f != nil {
			f.Close()
			t.Errorf("port %d reserved a second time", p)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		l.Close()
	}
}
