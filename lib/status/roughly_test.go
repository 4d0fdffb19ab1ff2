package status

import (
	"testing"
	"time"
)

func TestRoughly(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{-time.Second, "just now"},
		{500 * time.Millisecond, "just now"},
		{5 * time.Second, "in 5 seconds"},
		{-90 * time.Minute, "90 minutes ago"},
		{3 * time.Hour, "in 3 hours"},
		{-3 * 24 * time.Hour, "3 days ago"},
		{5 * 24 * time.Hour, "on 2026-12-03"},
	}
	for _, tc := range tests {
		if got := Roughly(now.Add(tc.d), now); got != tc.want {
			t.Errorf("Roughly(%v) = %q; want %q", tc.d, got, tc.want)
		}
	}
}
