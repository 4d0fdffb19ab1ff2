package store

import (
	"sync"
	"syscall"
	"time"
)

// rootCache keeps the store directory open, so that the many file
// operations of a run do not each walk the store's path again (a third of
// md-status's system time over 100,000 MDs). A descriptor handed out stays
// valid until its release; the directory is given up, and opened again by
// path, when it was removed (no links left) or when the path no longer names
// it. The removal is checked before anything but a file read (Read,
// ModTime), and before those at most every rootRecheck, like the path (an
// fstat before every read was one system call in five of md-status over
// 100,000 MDs, and a read of a store removed less than a second ago is one
// made just before it was removed): a store directory moved or replaced
// under a long-running command is followed within that time.
type rootCache struct {
	mu      sync.Mutex
	cur     *rootDir
	checked time.Time
	recheck time.Duration // rootRecheck; tests change it
}

// rootRecheck is how often the store's path is compared with the open
// directory.
const rootRecheck = time.Second

func newRootCache() *rootCache { return &rootCache{recheck: rootRecheck} }

type rootDir struct {
	fd       int
	dev, ino uint64
	refs     int
	dropped  bool // no longer handed out; closed at its last release
}

// get returns a descriptor of f's store directory and the function that
// releases it; reading is true for a file read only (see rootCache).
// Without a cache (an FS made for one file), each call opens the
// directory.
func (c *rootCache) get(f *FS, reading bool) (int, func(), error) {
	if c == nil {
		fd, err := f.openRoot()
		if err != nil {
			return -1, nil, err
		}
		return fd, func() { syscall.Close(fd) }, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.cur != nil && !c.current(f.dir, now, reading) {
		c.dropLocked()
	}
	if c.cur == nil {
		fd, err := f.openRoot()
		if err != nil {
			return -1, nil, err
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			syscall.Close(fd)
			return -1, nil, f.pathErr("stat", ".", err)
		}
		c.cur, c.checked = &rootDir{fd: fd, dev: st.Dev, ino: st.Ino}, now
	}
	d := c.cur
	d.refs++
	return d.fd, func() { c.release(d) }, nil
}

// current tells whether the open directory is still the store: not
// removed (before a file read only every rootRecheck), and (checked every
// rootRecheck) still what the path names.
func (c *rootCache) current(dir string, now time.Time, reading bool) bool {
	due := now.Sub(c.checked) >= c.recheck
	var st syscall.Stat_t
	if !reading || due {
		if err := syscall.Fstat(c.cur.fd, &st); err != nil || st.Nlink == 0 {
			return false
		}
	}
	if !due {
		return true
	}
	c.checked = now
	if err := syscall.Stat(dir, &st); err != nil || st.Dev != c.cur.dev || st.Ino != c.cur.ino {
		return false
	}
	return true
}

func (c *rootCache) release(d *rootDir) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d.refs--
	if d.dropped && d.refs == 0 {
		syscall.Close(d.fd)
	}
}

func (c *rootCache) dropLocked() {
	if c.cur == nil {
		return
	}
	c.cur.dropped = true
	if c.cur.refs == 0 {
		syscall.Close(c.cur.fd)
	}
	c.cur = nil
}

// Close gives up the open store directory (a later operation opens it
// again); for tests and commands that open many stores.
func (f *FS) Close() error {
	if f.root == nil {
		return nil
	}
	f.root.mu.Lock()
	defer f.root.mu.Unlock()
	f.root.dropLocked()
	return nil
}
