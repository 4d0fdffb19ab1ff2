package main

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
)

// BenchmarkOrder50 obtains 50 P-256 certificates (one name each, http-01)
// per iteration from a local Pebble; scripts/bench-order measures the
// binary (wall, CPU, RSS) for more sizes and RSA.
func BenchmarkOrder50(b *testing.B) {
	ca := devca.StartT(b, devca.Options{Env: map[string]string{"PEBBLE_AUTHZREUSE": "50"}})
	for i := 0; i < b.N; i++ {
		var recs []*md.Record
		for j := 0; j < 50; j++ {
			r := record([]string{ca.DirectoryURL}, fmt.Sprintf("b%d-%d.test", i, j))
			r.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}
			recs = append(recs, r)
		}
		in := jsonl(b, recs...)
		dir := b.TempDir()
		res := runOrder(b, in, "--store", dir, "--ca-file", ca.RootsFile, "--http-listen", "127.0.0.1:"+strconv.Itoa(ca.HTTPPort), "-j", "8")
		if res.code != 0 {
			b.Fatalf("exit %d: %s", res.code, res.stderr)
		}
	}
}
