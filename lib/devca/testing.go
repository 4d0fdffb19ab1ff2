package devca

import (
	"context"
	"os"
	"testing"
)

// StartT starts a CA for a test and stops it in t.Cleanup. A CA that cannot
// start fails the test: the real server is the point of these tests.
//
// Without opts.Dir the CA's config and server logs go to a directory that
// is removed when the test passes and kept when it fails: the failure
// message then names the logs and shows only their last lines.
func StartT(t testing.TB, opts Options) *CA {
	t.Helper()
	keep := func() {}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "devca-test-")
		if err != nil {
			t.Fatal(err)
		}
		opts.Dir = dir
		keep = func() {
			if !t.Failed() {
				_ = os.RemoveAll(dir)
			}
		}
	}
	ca, err := Start(context.Background(), opts)
	if err != nil { // the dir stays: its logs tell why
		t.Fatalf("starting local Pebble CA (files kept in %s): %v", opts.Dir, err)
	}
	t.Cleanup(func() {
		ca.Stop()
		if t.Failed() {
			t.Logf("pebble and challtestsrv logs are kept in %s;\n%s", ca.Dir, ca.LogTail())
		}
		keep()
	})
	return ca
}
