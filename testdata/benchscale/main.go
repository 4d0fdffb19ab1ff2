// Command benchscale prepares a store for scripts/bench-scale without an
// ACME CA: for every MD record md-parse wrote (one name per MD), it stages
// what a finished md-order run leaves in staging/<md>/ (md.json with the
// CA, one private key and certificate chain per key spec, a finished
// job.json, and the ARI cache md-order seeds), with the certificates
// issued by one in-process P-256 CA (lib/staple/ocsptest) that names a
// local OCSP responder. It then prints MD_BENCH_READY=1 and answers OCSP
// until SIGTERM or Ctrl-C, so that the real md-install activates the
// staged sets and the real md-staple fetches and stores a response for
// each, exactly as after a first cycle.
//
//	go run ./testdata/benchscale -store DIR -records parse.jsonl
//
// The staging writes skip their individual fsyncs and are flushed once
// (store.Deferred): this is benchmark setup, not what is measured.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

func main() {
	dir := flag.String("store", "", "the store md-parse synced the MDs into")
	records := flag.String("records", "", "md-parse's output (JSON Lines)")
	flag.Parse()
	if *dir == "" || *records == "" {
		fmt.Fprintln(os.Stderr, "usage: benchscale -store DIR -records FILE")
		os.Exit(2)
	}
	if err := run(*dir, *records); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale: error:", err)
		os.Exit(1)
	}
}

func run(dir, records string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	recs, err := readRecords(records)
	if err != nil {
		return err
	}
	resp, err := ocsptest.Listen()
	if err != nil {
		return err
	}
	defer resp.Close()
	ca, err := ocsptest.NewCA("Bench Scale CA")
	if err != nil {
		return err
	}
	if err := resp.SetIssuer(ca.Cert, ca.Key); err != nil {
		return err
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	fast, sync := st.Deferred()
	errs := make([]error, len(recs))
	pool.Each(len(recs), 8, func(i int) { errs[i] = stage(ctx, fast, ca, resp.URL, recs[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := sync(); err != nil {
		return err
	}
	fmt.Println("MD_BENCH_READY=1")
	fmt.Fprintf(os.Stderr, "benchscale: staged %d MDs; OCSP responder at %s\n", len(recs), resp.URL)
	<-ctx.Done()
	return nil
}

func readRecords(path string) ([]*md.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*md.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		rec := &md.Record{}
		if err := json.Unmarshal(sc.Bytes(), rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if len(rec.Domains) != 1 || rec.Domains[0] != rec.Name {
			return nil, fmt.Errorf("%s:%d: %s: one domain per MD, named as the MD, expected", path, line, rec.Name)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// stage writes what md-order's finish leaves in staging/<md>/.
func stage(ctx context.Context, st *store.Store, ca *ocsptest.CA, ocspURL string, rec *md.Record) error {
	now := time.Now()
	m := rec.MD
	c := md.CA{}
	if m.CA != nil {
		c = *m.CA
	}
	if urls := rec.EffectiveCAURLs(); len(urls) > 0 {
		c.URL = urls[0]
		if len(c.URLs) == 0 {
			c.URLs = urls
		}
	}
	if c.Proto == "" {
		c.Proto = md.ProtoACME
	}
	m.CA = &c
	if err := st.SaveMD(ctx, store.GroupStaging, &m); err != nil {
		return err
	}
	var leaves []*x509.Certificate
	for _, spec := range rec.PrivKey.Effective() {
		if c, _ := md.CurveName(spec.Curve); spec.Type != md.KeyEC || (spec.Curve != "" && c != "P-256") {
			return fmt.Errorf("%s: key spec %s: only EC keys (P-256) are generated", rec.Name, spec.Name())
		}
		leaf, key, _, err := ca.Leaf(ocsptest.LeafOptions{OCSP: ocspURL, Name: rec.Name})
		if err != nil {
			return err
		}
		if err := st.SaveKey(ctx, store.GroupStaging, rec.Name, spec.FileName("privkey"), key); err != nil {
			return err
		}
		if err := st.SaveChain(ctx, store.GroupStaging, rec.Name, spec.FileName("pubcert"), []*x509.Certificate{leaf, ca.Cert}); err != nil {
			return err
		}
		leaves = append(leaves, leaf)
	}
	// as md-order's finish: no ARI query about the new certificates for
	// 6 hours, so that the measured cycles ask the CA nothing
	if rec.ARIRenewals {
		if err := acmeflow.SeedARI(ctx, st, rec.Name, leaves, now); err != nil {
			return err
		}
	}
	j := &md.Job{Name: rec.Name, Finished: true, Notified: true, NotifiedRenewed: true}
	j.LastRun = md.NewTime(now)
	j.ValidFrom = md.NewTime(now)
	j.Last = &md.JobResult{Status: 0, ValidFrom: md.NewTime(now)}
	j.AddLog(now, "starting", "", "")
	j.AddLog(now, "progress", "", "The certificate for the managed domain has been renewed successfully and can be used (valid since "+
		now.UTC().Format(time.RFC1123)+"). A graceful server restart now is recommended.")
	j.AddLog(now, "finished", "", "")
	return st.SaveJob(ctx, store.GroupStaging, rec.Name, j)
}
