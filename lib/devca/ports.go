package devca

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports handed out by FreePorts are taken from below the kernel's
// ephemeral range: a port there is never given to an outgoing connection
// or a port-0 listener, so it stays free between FreePorts and the
// server that binds it later (Pebble's VA ports, an md-order
// --http-listen, Apache's Listen). Test processes of one machine share
// that range; each port is reserved for the process that chose it by an
// flock'd file it holds until it exits.

const (
	lowestPort   = 20000 // below: well-known and registered services
	fallbackHigh = 32768 // Linux's default ip_local_port_range start
)

var (
	portsMu  sync.Mutex
	reserved = map[int]*os.File{} // held open: the flock lives as long as the file
)

// FreePorts returns n distinct TCP ports on 127.0.0.1, each free when
// chosen and reserved for this process (see above), for servers that must
// be told their port before they bind it.
func FreePorts(n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	dir, err := portLockDir()
	if err != nil {
		return nil, err
	}
	high := ephemeralStart()
	span := high - lowestPort
	if span <= 0 {
		return nil, fmt.Errorf("no ports below the ephemeral range (%d)", high)
	}
	out := make([]int, 0, n)
	start := rand.IntN(span)
	for i := 0; i < span && len(out) < n; i++ {
		p := lowestPort + (start+i)%span
		if reserved[p] != nil {
			continue
		}
		if f := reserve(dir, p); f != nil {
			reserved[p] = f
			out = append(out, p)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d of %d free ports between %d and %d", len(out), n, lowestPort, high)
	}
	return out, nil
}

// reserve takes port p for this process: its lock file, then a bind test.
// nil when another process holds it or something listens there.
func reserve(dir string, p int) *os.File {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		f.Close()
		return nil
	}
	l.Close()
	return f
}

// portLockDir is this user's directory of port lock files.
func portLockDir() (string, error) {
	dir := filepath.Join(os.TempDir(), "mdtools-test-ports-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("port lock directory %s is not a directory", dir)
	}
	return dir, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallbackHigh
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return fallbackHigh
	}
	if n, err := strconv.Atoi(f[0]); err == nil && n > lowestPort {
		return n
	}
	return fallbackHigh
}
