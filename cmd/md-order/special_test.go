package main

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
)

// TestCAFileSpecialFiles: --ca-file and MDCACertificateFile naming
// /dev/zero, a FIFO or a 100 MB sparse file fail the MD with an error that
// names the file; before, /dev/zero grew md-order by ~150 MB/s past
// --timeout and a FIFO blocked it. The CA URL is dead: nothing reaches
// the network.
func TestCAFileSpecialFiles(t *testing.T) {
	for _, sp := range fsreadtest.Specials(t) {
		for _, via := range []string{"--ca-file", "ca-certs"} {
			t.Run(sp.Name+" "+via, func(t *testing.T) {
				rec := record([]string{"https://127.0.0.1:1/dir"}, "special.test")
				args := []string{"--store", t.TempDir()}
				if via == "--ca-file" {
					args = append(args, "--ca-file", sp.Path)
				} else {
					rec.CACerts = sp.Path
				}
				var res runResult
				fsreadtest.NoHang(t, func() { res = runOrder(t, jsonl(t, rec), args...) })
				if res.code != 1 || len(res.recs) != 1 || res.recs[0].Error == nil {
					t.Fatalf("exit %d, %d records; want 1 with an error\n%s", res.code, len(res.recs), res.stderr)
				}
				if d := res.recs[0].Error.Detail; !strings.Contains(d, "reading CA certificate file: "+sp.Want) {
					t.Errorf("detail %q; want it to name the file: %q", d, sp.Want)
				}
			})
		}
	}
}
