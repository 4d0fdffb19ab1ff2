package devca

import (
	"context"
	"testing"
)

// StartT starts a CA for a test and stops it in t.Cleanup. A CA that cannot
// start fails the test: the real server is the point of these tests.
func StartT(t testing.TB, opts Options) *CA {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ca, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting local Pebble CA: %v", err)
	}
	t.Cleanup(func() {
		ca.Stop()
		if t.Failed() {
			t.Logf("pebble logs:\n%s", ca.LogTail())
		}
	})
	return ca
}
