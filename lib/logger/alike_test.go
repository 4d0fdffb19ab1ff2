package logger

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestShape(t *testing.T) {
	for _, tc := range []struct{ name, msg, want string }{
		{"d1.test", "d1.test: saving job: disk full", "<name>: saving job: disk full"},
		{"d1.test", "staged set for d1.test rejected", "staged set for <name> rejected"},
		{"a.test", "certificate 8273b962edc016379f79c92dae97937f989b320f (secp256r1): refused",
			"certificate <id> (secp256r1): refused"},
		{"a.test", "a.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUeJ: 404 not found",
			"<name>: ARI for <id>: 404 not found"},
		{"a.test", "not asked again before 11:37:58 UTC", "not asked again before <time> UTC"},
		{"a.test", "8 requests in a row to r.test got no answer", "<n> requests in a row to r.test got no answer"},
		// what is not volatile stays: short hex, HTTP statuses, other names
		{"a.test", "HTTP 503 from https://ca.test/dir for www.b.test (key deadbeef)",
			"HTTP 503 from https://ca.test/dir for www.b.test (key deadbeef)"},
		{"", "no name: 12 MDs", "no name: 12 MDs"},
		{"a.test", "a.test, a.test.org, ca.test, www.a.test and a.test.", "<name>, a.test.org, ca.test, www.a.test and <name>."},
	} {
		if got := Shape(tc.name, tc.msg); got != tc.want {
			t.Errorf("Shape(%q, %q) = %q, want %q", tc.name, tc.msg, got, tc.want)
		}
	}
}

// recorder is a Logger that keeps its lines.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) add(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, kind+fmt.Sprintf(format, args...))
}
func (r *recorder) Infof(f string, a ...any)  { r.add("info: ", f, a...) }
func (r *recorder) Debugf(f string, a ...any) { r.add("debug: ", f, a...) }
func (r *recorder) Warnf(f string, a ...any)  { r.add("warning: ", f, a...) }

// TestAlike: the warnings of one shape are shown three times, then given
// to Infof and counted by Done; a warning of another shape is shown.
func TestAlike(t *testing.T) {
	rec := &recorder{}
	a := &Alike{Log: rec}
	for i := range 5 {
		a.Warnf("d%d.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUe%d: 404 unknown certificate", i, i)
	}
	a.Warnf("x.test: the CA does not offer profile %q", "tls")
	a.Infof("progress %d", 1)
	a.Done()
	a.Done() // counted once
	got := strings.Join(rec.lines, "\n")
	want := strings.Join([]string{
		"warning: d0.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUe0: 404 unknown certificate",
		"warning: d1.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUe1: 404 unknown certificate",
		"warning: d2.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUe2: 404 unknown certificate",
		"info: d3.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUe3: 404 unknown certificate",
		"info: d4.test: ARI for PlorL4MNr2kluvDoep3d03KqRBQ.AUe4: 404 unknown certificate",
		`warning: x.test: the CA does not offer profile "tls"`,
		"info: progress 1",
		"warning: 2 more MDs warned alike: <name>: ARI for <id>: 404 unknown certificate (-v names each)",
	}, "\n")
	if got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
}
