// Package memotest helps tests of stages with a memo (lib/memo): it makes
// a store look as it does between two cron runs, and reads a run's -v
// report of how many records the memo answered.
package memotest

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Age sets the times of everything under the directories an hour back,
// symlinks themselves included: a memo remembers only answers whose files
// are older than memo.Margin.
func Age(t testing.TB, dirs ...string) {
	t.Helper()
	setTimes(t, time.Now().Add(-time.Hour), dirs)
}

// Freshen sets the times of everything under the directories an hour
// ahead: files that count as just written however long the test takes to
// look at them (a memo does not remember answers that read them).
func Freshen(t testing.TB, dirs ...string) {
	t.Helper()
	setTimes(t, time.Now().Add(time.Hour), dirs)
}

func setTimes(t testing.TB, at time.Time, dirs []string) {
	t.Helper()
	old := unix.NsecToTimespec(at.UnixNano())
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{old, old}, unix.AT_SYMLINK_NOFOLLOW)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

var hitsLine = regexp.MustCompile(`(\d+) of (\d+) records answered from the memo`)

// Hits is how many records a run with -v answered from its memo, "none"
// when it did not use one.
func Hits(stderr string) string {
	m := hitsLine.FindStringSubmatch(stderr)
	if m == nil {
		return "none"
	}
	return m[1]
}
