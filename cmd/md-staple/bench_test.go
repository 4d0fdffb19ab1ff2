package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
)

// BenchmarkNothingDue10000 runs the whole command, md-staple --all, over a
// store with 10,000 installed MDs whose responses are all fresh: no
// request is made (checked), every record is printed.
//
//	go test -run '^$' -bench NothingDue -benchtime 5x ./cmd/md-staple/
func BenchmarkNothingDue10000(b *testing.B) {
	dir, resp := ocsptest.BenchStore(b, 10000, true)
	var errOut strings.Builder
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		code := cli.Run(context.Background(), tool(), []string{"md-staple", "--store", dir, "--all"},
			cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errOut})
		if code != cli.ExitOK {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
	}
	b.StopTimer()
	if n := resp.Requests.Load(); n != 0 {
		b.Fatalf("%d requests with nothing due", n)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/10000-certs")
}
