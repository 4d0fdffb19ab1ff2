package install

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// benchCA is a local two-level CA for benchmarks: a thousand certificates
// from Pebble would measure Pebble, not md-install.
type benchCA struct {
	inter     *certtest.Cert
	serial    int64
	notBefore time.Time
}

func newBenchCA(b *testing.B) *benchCA {
	nb := time.Now().Add(-time.Hour)
	valid := certtest.Spec{CA: true, NotBefore: nb, NotAfter: nb.AddDate(1, 0, 0)}
	root := valid
	root.Serial = big.NewInt(1)
	inter := valid
	inter.Serial, inter.Issuer = big.NewInt(2), certtest.New(b, root)
	return &benchCA{inter: certtest.New(b, inter), serial: 100, notBefore: nb}
}

func (ca *benchCA) issue(b *testing.B, name string) (crypto.Signer, []*x509.Certificate) {
	ca.serial++
	leaf := certtest.New(b, certtest.Spec{Names: []string{name, "www." + name}, Serial: big.NewInt(ca.serial),
		NotBefore: ca.notBefore, NotAfter: ca.notBefore.AddDate(0, 0, 90), Issuer: ca.inter})
	return leaf.Key, []*x509.Certificate{leaf.Cert, ca.inter.Cert}
}

func benchRecord(i int, deployDir string) *md.Record {
	name := fmt.Sprintf("md%05d.bench.test", i)
	r := testRecord(name, md.KeySpecs{ecSpec}, name, "www."+name)
	if deployDir != "" {
		r.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deployDir, name)}}
	}
	return r
}

// BenchmarkActivate1000 activates 1,000 staged MDs with deploy files (the
// issue asks for under 2 s on the 2-core machine).
func BenchmarkActivate1000(b *testing.B) { benchActivate(b, true) }

// BenchmarkActivate1000NoDeploy activates 1,000 staged MDs without deploy
// files: staging to domains, archive, job log, staging purged.
func BenchmarkActivate1000NoDeploy(b *testing.B) { benchActivate(b, false) }

func benchActivate(b *testing.B, deploy bool) {
	const n = 1000
	what, perMD := "with deploy files", 12
	if !deploy {
		what, perMD = "without deploy files", 4
	}
	ca := newBenchCA(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		st, err := store.Open(b.Context(), dir)
		if err != nil {
			b.Fatal(err)
		}
		dst, sync := st.Deferred()
		deployDir := ""
		if deploy {
			deployDir = filepath.Join(b.TempDir(), "deploy")
		}
		recs := make([]*md.Record, n)
		for j := range recs {
			recs[j] = benchRecord(j, deployDir)
			key, chain := ca.issue(b, recs[j].Name)
			stageSet(b, dst, recs[j], []stagedCred{{spec: ecSpec, key: key, chain: chain}})
		}
		if err := sync(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		if err := Run(context.Background(), Options{Store: st, NoVerify: true, Log: benchLog{}, Workers: benchWorkers()}, recs); err != nil {
			b.Fatal(err)
		}
		el, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		for _, r := range recs {
			if r.Error != nil || r.Install.Action != "activated" {
				b.Fatalf("%s: %+v %+v", r.Name, r.Install, r.Error)
			}
		}
		base := fsBaseline(b, n, perMD)
		fmt.Printf("md-install: filesystem baseline now: creating %d plain files (%d per MD, what an activation %s creates) takes %.3f s\n", n*perMD, perMD, what, base.Seconds())
		b.ReportMetric(el.Seconds(), "s/1000-activations")
		fmt.Printf("md-install: activated %d staged MDs %s in %.3f s (%.3f s CPU, load %s, store on %s)\n", n, what, el.Seconds(), cpu.Seconds(), loadAvg(), fsType(dir))
		b.StartTimer()
	}
}

// BenchmarkNothingToDo10000 is a run over 10,000 live MDs with nothing
// staged (the issue asks for under 0.5 s): records from stdin (JSON decode
// included) and --all (the MDs read from the store).
func BenchmarkNothingToDo10000(b *testing.B) {
	const n = 10000
	ca := newBenchCA(b)
	dir := b.TempDir()
	st, err := store.Open(b.Context(), dir)
	if err != nil {
		b.Fatal(err)
	}
	dst, sync := st.Deferred()
	recs := make([]*md.Record, n)
	var input bytes.Buffer
	for j := range recs {
		recs[j] = benchRecord(j, "")
		r := recs[j]
		k, c := ca.issue(b, r.Name)
		m := r.MD
		m.State = md.StateComplete
		if err := dst.SaveMD(b.Context(), store.GroupDomains, &m); err != nil {
			b.Fatal(err)
		}
		if err := dst.SaveKey(b.Context(), store.GroupDomains, r.Name, ecSpec.FileName("privkey"), k); err != nil {
			b.Fatal(err)
		}
		if err := dst.SaveChain(b.Context(), store.GroupDomains, r.Name, ecSpec.FileName("pubcert"), c); err != nil {
			b.Fatal(err)
		}
		if err := dst.SaveJob(b.Context(), store.GroupDomains, r.Name, &md.Job{Name: r.Name, Finished: true}); err != nil {
			b.Fatal(err)
		}
		line, _ := json.Marshal(r)
		input.Write(append(line, '\n'))
	}
	if err := sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start, cpu0 := time.Now(), cpuTime()
		var got []*md.Record
		dec := json.NewDecoder(bytes.NewReader(input.Bytes()))
		for dec.More() {
			r := &md.Record{}
			if err := dec.Decode(r); err != nil {
				b.Fatal(err)
			}
			got = append(got, r)
		}
		decoded := time.Since(start)
		if err := Run(context.Background(), Options{Store: st, NoVerify: true, Log: benchLog{}, Workers: benchWorkers()}, got); err != nil {
			b.Fatal(err)
		}
		stdin, stdinCPU := time.Since(start), cpuTime()-cpu0
		start, cpu0 = time.Now(), cpuTime()
		all, err := StoreRecords(b.Context(), st)
		if err != nil {
			b.Fatal(err)
		}
		if err := Run(context.Background(), Options{Store: st, NoVerify: true}, all); err != nil {
			b.Fatal(err)
		}
		allEl, allCPU := time.Since(start), cpuTime()-cpu0
		for _, r := range append(got, all...) {
			if r.Error != nil || r.Install.Action != "none" {
				b.Fatalf("%s: %+v %+v", r.Name, r.Install, r.Error)
			}
		}
		if len(all) != n {
			b.Fatalf("--all found %d MDs", len(all))
		}
		b.ReportMetric(stdin.Seconds(), "s/10000-stdin")
		b.ReportMetric(allEl.Seconds(), "s/10000-all")
		fmt.Printf("md-install: nothing to do over %d MDs: %.3f s from records (%.3f s CPU; %.3f s of it JSON decoding), %.3f s with --all (%.3f s CPU), load %s\n",
			n, stdin.Seconds(), stdinCPU.Seconds(), decoded.Seconds(), allEl.Seconds(), allCPU.Seconds(), loadAvg())
	}
}

// benchLog prints phase timings when MD_BENCH_VERBOSE is set.
type benchLog struct{}

func (benchLog) Infof(string, ...any) {}
func (benchLog) Warnf(string, ...any) {}
func (benchLog) Debugf(f string, a ...any) {
	if os.Getenv("MD_BENCH_VERBOSE") != "" {
		fmt.Printf("  "+f+"\n", a...)
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the 1-minute load average, to read the figures against.
// fsType names the filesystem of dir ($TMPDIR chooses it): its inode
// allocation is most of what an activation costs beyond its crypto.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "?"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	}
	return fmt.Sprintf("filesystem type %#x", st.Type)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func benchWorkers() int {
	n, _ := strconv.Atoi(os.Getenv("MD_BENCH_WORKERS"))
	return n
}

// fsBaseline creates dirs×files small files with 4 workers and returns the
// time it took: the floor for any activation on this filesystem right now
// (on this shared VM it varies tenfold with the other users' load).
func fsBaseline(b *testing.B, dirs, files int) time.Duration {
	root := b.TempDir()
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, 1500)
			for i := range work {
				d := filepath.Join(root, strconv.Itoa(i))
				if err := os.Mkdir(d, 0o700); err != nil {
					b.Error(err)
					return
				}
				for j := 0; j < files; j++ {
					if err := os.WriteFile(filepath.Join(d, strconv.Itoa(j)), data, 0o600); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	for i := 0; i < dirs; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return time.Since(start)
}
