package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	mdinstall "github.com/mdtools/mdtools/lib/install"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
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

// BenchmarkARIPoll is an hourly cron run over MDs whose ARI answers are
// all due again, across a link with a round trip of $BENCH_ARI_RTT
// (default 100ms, about Europe to Let's Encrypt): nothing is ordered,
// each MD costs one renewalInfo GET. Pebble, like Let's Encrypt, answers
// with a Retry-After of 6 hours, so such a run over 100,000 MDs asks about
// 17,000 of them. Setup (not timed): $BENCH_ARI_N MDs (default 400) get
// certificates from a local Pebble through a latency proxy set to no
// delay. Each iteration marks every stored answer as due and runs
// md-order with its defaults. The figure to read is ms/MD (wall).
func BenchmarkARIPoll(b *testing.B) {
	n := envInt(b, "BENCH_ARI_N", 400)
	rtt := 100 * time.Millisecond
	if v := os.Getenv("BENCH_ARI_RTT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_ARI_RTT: %v", err)
		}
		rtt = d
	}
	ca := devca.StartT(b, devca.Options{Env: map[string]string{"PEBBLE_AUTHZREUSE": "100"}})
	u, err := url.Parse(ca.DirectoryURL)
	if err != nil {
		b.Fatal(err)
	}
	proxy, err := devca.StartLatencyProxy(u.Host)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(proxy.Close)
	u.Host = proxy.Addr
	var recs []*md.Record
	for i := range n {
		r := record([]string{u.String()}, fmt.Sprintf("ari%d.test", i))
		r.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}
		r.Profile = "default" // not Pebble's 6-day one, which may be due at once
		recs = append(recs, r)
	}
	in := jsonl(b, recs...)
	dir := b.TempDir()
	args := []string{"--store", dir, "--ca-file", ca.RootsFile, "--http-listen", "127.0.0.1:" + strconv.Itoa(ca.HTTPPort)}
	res := runOrder(b, in, append(args, "--account-key", "P-256", "-j", "8")...)
	if res.code != 0 {
		b.Fatalf("ordering: exit %d: %s", res.code, res.stderr)
	}
	st, err := store.Open(b.Context(), dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := mdinstall.Run(b.Context(), mdinstall.Options{Store: st, NoVerify: true}, res.recs); err != nil {
		b.Fatal(err)
	}
	for _, r := range res.recs {
		if r.Install == nil || r.Install.Action != "activated" {
			b.Fatalf("%s: install %+v; want activated", r.Name, r.Install)
		}
	}
	b.Setenv("MDTOOLS_NO_MEMO", "1") // the memo would answer until the stored Retry-After
	proxy.SetDelay(rtt / 2)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		asked := markARIDue(b, st, recs)
		b.StartTimer()
		res := runOrder(b, in, args...)
		if res.code != 0 {
			b.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		b.StopTimer()
		for _, r := range res.recs {
			if r.Order == nil || r.Order.Action != "none" {
				b.Fatalf("%s: %+v; want nothing due", r.Name, r.Order)
			}
		}
		if got := countARIDue(b, st, recs); got != 0 {
			b.Fatalf("%d of %d ARI answers still due after the run; want every one asked", got, asked)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*n), "ms/MD")
	b.ReportMetric(float64(rtt.Milliseconds()), "rtt-ms")
}

// markARIDue makes every stored ARI answer of recs due now and returns
// how many there are; countARIDue counts those that are due.
func markARIDue(b *testing.B, st *store.Store, recs []*md.Record) int {
	b.Helper()
	due, _ := json.Marshal(md.NewTime(time.Now().Add(-time.Minute)))
	n := 0
	for _, r := range recs {
		v := loadARIRaw(b, st, r.Name)
		for _, e := range v["entries"] {
			e["retry-after"] = due
			n++
		}
		if err := st.SaveJSON(b.Context(), store.GroupRoot, "", store.ARIFile(r.Name), v); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

func countARIDue(b *testing.B, st *store.Store, recs []*md.Record) int {
	b.Helper()
	n := 0
	for _, r := range recs {
		for _, e := range loadARIRaw(b, st, r.Name)["entries"] {
			var ra md.Time
			if err := json.Unmarshal(e["retry-after"], &ra); err != nil || !ra.After(time.Now()) {
				n++
			}
		}
	}
	return n
}

// loadARIRaw reads ari-<name>.json keeping each entry's fields as they are.
func loadARIRaw(b *testing.B, st *store.Store, name string) map[string]map[string]map[string]json.RawMessage {
	b.Helper()
	var v map[string]map[string]map[string]json.RawMessage
	if err := st.LoadJSON(b.Context(), store.GroupRoot, "", store.ARIFile(name), &v); err != nil {
		b.Fatal(err)
	}
	if len(v["entries"]) == 0 {
		b.Fatalf("%s: no ARI answer stored", name)
	}
	return v
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
