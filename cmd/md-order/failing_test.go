package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

var pebbleOrderLine = regexp.MustCompile(`(?m)^.*Added order "`)

// pebbleLog returns Pebble's log so far: a line per request it answers.
func pebbleLog(t *testing.T, ca *devca.CA) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ca.Dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestFailingMDAcrossRuns is the cron contract over four runs with the
// clock moved forward: an MD that no challenge can answer (an md.toml
// without http-listen, as in the README's pipeline) fails before any order
// is created; while its backoff lasts every run fails again with the last
// error and asks the CA nothing; after the backoff, with md-order's own
// listener given (--http-listen), it is ordered; then it is fine.
func TestFailingMDAcrossRuns(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir := t.TempDir()
	st := mustStore(t, dir)
	rec := func() *md.Record {
		r := record([]string{ca.DirectoryURL}, "cron.test", "www.cron.test")
		r.Settings.Reachable = &md.Reachable{} // md.toml: no webroot, no listener
		r.Settings.RetryDelay = "1h"
		return r
	}
	start := time.Now()
	runner := func(now time.Time, httpListen string) *acmeflow.Runner {
		mgr, err := challenge.New(st, challenge.Options{HTTPListen: httpListen})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mgr.Close() })
		return &acmeflow.Runner{Store: st, Challenges: mgr, CAFiles: []string{ca.RootsFile}, Now: func() time.Time { return now }}
	}
	logBefore := len(pebbleLog(t, ca))

	// Run 1: no workable challenge; nothing is asked of the CA.
	r1 := rec()
	if err := runner(start, "").Process(context.Background(), r1); err != nil {
		t.Fatal(err)
	}
	if r1.Order.Action != acmeflow.ActionFailed || r1.Error == nil || r1.Error.Problem != acmeflow.ProblemChallengeMismatch ||
		!strings.Contains(r1.Error.Detail, "--http-listen") || r1.Order.NextRun.IsZero() || r1.Order.FailingSince.Sub(start).Abs() > time.Second {
		t.Fatalf("run 1: order %+v error %+v", r1.Order, r1.Error)
	}
	if got := pebbleLog(t, ca)[logBefore:]; got != "" {
		t.Errorf("run 1 contacted the CA although no challenge can work:\n%s", got)
	}

	// Run 2, ten minutes later, during the backoff: failed again, with the
	// last error, since when and the next try; still nothing asked.
	r2 := rec()
	if err := runner(start.Add(10*time.Minute), "").Process(context.Background(), r2); err != nil {
		t.Fatal(err)
	}
	if o := r2.Order; o.Action != acmeflow.ActionBackoff || o.Errors != 1 || !o.FailingSince.Equal(r1.Order.FailingSince.Time) || !o.NextRun.Equal(r1.Order.NextRun.Time) ||
		r2.Error == nil || r2.Error.Problem != acmeflow.ProblemChallengeMismatch || r2.Error.Detail != r1.Error.Detail {
		t.Fatalf("run 2 (backoff): order %+v error %+v", o, r2.Error)
	}
	if got := pebbleLog(t, ca)[logBefore:]; got != "" {
		t.Errorf("run 2 contacted the CA during the backoff:\n%s", got)
	}

	// Run 3, after the backoff, with md-order's own http-01 listener on
	// the port the CA validates: ordered, one order at Pebble.
	r3 := rec()
	if err := runner(r1.Order.NextRun.Add(time.Second), "127.0.0.1:"+strconv.Itoa(ca.HTTPPort)).Process(context.Background(), r3); err != nil {
		t.Fatal(err)
	}
	if r3.Order.Action != acmeflow.ActionOrdered || r3.Error != nil {
		t.Fatalf("run 3 (fixed): order %+v error %+v", r3.Order, r3.Error)
	}
	if n := len(pebbleOrderLine.FindAllString(pebbleLog(t, ca), -1)); n != 1 {
		t.Errorf("Pebble has %d orders; want 1", n)
	}

	// Run 4: the set waits for md-install; nothing failing any more.
	r4 := rec()
	if err := runner(r1.Order.NextRun.Add(time.Hour), "").Process(context.Background(), r4); err != nil {
		t.Fatal(err)
	}
	if r4.Order.Action != acmeflow.ActionStaged || r4.Error != nil {
		t.Fatalf("run 4: order %+v error %+v", r4.Order, r4.Error)
	}
}

// TestBusyListener: two md-order runs over one store that both listen on
// the same port: the second one's MDs are locked (exit 3), not failed, and
// its job is untouched. A port held by a stranger fails the MD before any
// order (challenge-setup-failure).
func TestBusyListener(t *testing.T) {
	dir := t.TempDir()
	st := mustStore(t, dir)
	ports, err := devca.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	node, err := md.NodeName(os.Getenv) // as md-order names this host
	if err != nil {
		t.Fatal(err)
	}

	// The first run holds the listener.
	first, err := challenge.New(st, challenge.Options{HTTPListen: addr, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Prepare(record(nil, "x.test"), []string{challenge.HTTP01}); err != nil {
		t.Fatalf("first run cannot listen: %v", err)
	}
	rec := record([]string{deadURL(t)}, "busy.test")
	res := runOrder(t, jsonl(t, rec), "--store", dir, "--http-listen", addr)
	if res.code != 3 || res.recs[0].Order.Action != acmeflow.ActionLocked || res.recs[0].Error != nil {
		t.Fatalf("second run: exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
	}
	if job, err := st.LoadJob(t.Context(), store.GroupStaging, "busy.test"); err == nil && job.Errors != 0 {
		t.Errorf("a locked MD got a failed attempt: %+v", job)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// The listener lock is this node's: a run that names another node
	// (another host of a fleet on one store) does not wait for it; here,
	// on the same host, it meets the bound port instead.
	other, err := challenge.New(st, challenge.Options{HTTPListen: addr, Node: "another-node"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Prepare(record(nil, "y.test"), []string{challenge.HTTP01}); err == nil || errors.Is(err, store.ErrLocked) {
		t.Errorf("another node's run: %v; want the bind error, not the lock", err)
	}
	other.Close()
	first.Close()

	// A stranger on the port: a failure the operator must see, before any
	// order (the CA URL is dead: any request would fail differently).
	stranger, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s taken meanwhile: %v", addr, err)
	}
	defer stranger.Close()
	res = runOrder(t, jsonl(t, rec), "--store", dir, "--http-listen", addr)
	if e := res.recs[0].Error; res.code != 1 || e == nil || e.Problem != acmeflow.ProblemChallengeSetupFailure || !strings.Contains(e.Detail, addr) {
		t.Fatalf("stranger on the port: exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, e, res.stderr)
	}
}

// TestDryRunNoChallenge: a dry run already says that an MD without a
// usable challenge type would fail (and nothing is written).
func TestDryRunNoChallenge(t *testing.T) {
	dir := t.TempDir()
	mustStore(t, dir)
	rec := record([]string{deadURL(t)}, "dry.test")
	rec.Settings.Reachable = &md.Reachable{}
	res := runOrder(t, jsonl(t, rec), "--store", dir, "--dry-run")
	if o, e := res.recs[0].Order, res.recs[0].Error; res.code != 1 || o.Action != acmeflow.ActionDryRun ||
		e == nil || e.Problem != acmeflow.ProblemChallengeMismatch {
		t.Fatalf("exit %d order %+v error %+v\n%s", res.code, o, e, res.stderr)
	}
	// with md-order's own listener it would order
	res = runOrder(t, jsonl(t, rec), "--store", dir, "--dry-run", "--http-listen", "127.0.0.1:0")
	if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionDryRun || res.recs[0].Error != nil {
		t.Fatalf("with --http-listen: exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "staging", "dry.test")); err == nil {
		t.Errorf("a dry run wrote staging/dry.test")
	}
}
