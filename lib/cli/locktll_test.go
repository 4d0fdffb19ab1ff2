package cli

import (
	"errors"
	"testing"
	"time"
)

func TestLockTTL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false},
		{"10s", 10 * time.Second, false},
		{"2s", 2 * time.Second, false},
		{"1h", time.Hour, false},
		{"1s", 0, true},
		{"1500ms", 0, true},
		{"2h", 0, true},
		{"30", 0, true},
		{"-5s", 0, true},
	} {
		got, err := lockTTL(tc.in)
		var ue *UsageError
		if got != tc.want || (err != nil) != tc.bad || (tc.bad && !errors.As(err, &ue)) {
			t.Errorf("lockTTL(%q) = %v, %v; want %v, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
