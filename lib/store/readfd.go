package store

import (
	"errors"
	"fmt"
	"syscall"
)

// readRegular reads a descriptor opened by openBeneath (O_NONBLOCK, which
// means nothing for regular files) and closes it: refused unless it is a
// regular file, bounded by MaxFileSize. It is regularFile and
// readBounded without the *os.File: no fcntl calls to make the descriptor
// blocking again and one read sized by fstat instead of a growing buffer,
// which halves the system calls of a small store file (md-order reads
// several per MD on every run; TestReadRegularSameAsFile).
func (f *FS) readRegular(fd int, rel string) ([]byte, error) {
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, f.pathErr("stat", rel, err)
	}
	if !isReg(st) {
		return nil, fmt.Errorf("%w: %s/%s is not a regular file; refusing to use it", ErrNotRegular, f.dir, rel)
	}
	size := min(max(st.Size+1, 512), MaxFileSize+1)
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxFileSize {
				break
			}
			buf = append(buf, 0)[:len(buf)] // grown: the file grew since fstat
		}
		want := min(cap(buf), MaxFileSize+1) - len(buf)
		n, err := syscall.Read(fd, buf[len(buf):len(buf)+want])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, f.pathErr("read", rel, err)
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if n < want && int64(len(buf)) == st.Size {
			// all fstat reported, and the kernel gave less than asked:
			// the end of a regular file (store files are replaced, never
			// appended to), without one more read to see it
			break
		}
	}
	if len(buf) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s/%s is larger than %d MiB; refusing to read it", ErrTooLarge, f.dir, rel, MaxFileSize>>20)
	}
	return buf, nil
}
