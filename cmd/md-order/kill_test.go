package main

import (
	"crypto/x509"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
)

// TestMain lets a test re-exec this binary as md-order, to kill it.
func TestMain(m *testing.M) {
	if os.Getenv("MDORDER_TEST_AS_MAIN") == "1" {
		if os.Getenv("MDORDER_TEST_KILL_AT") == "rollover" {
			// SIGKILL after the CA accepted the new key, before the store has it
			acmeflow.SetRolloverCrashHook(func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) })
		}
		cli.Main(tool())
	}
	os.Exit(m.Run())
}

func selfSigned(t *testing.T, name string, from, until time.Time) []*x509.Certificate {
	t.Helper()
	id := []byte{1, 2, 3, 4} // an AKI, so the cert has an ARI cert ID
	c := certtest.New(t, certtest.Spec{Names: []string{name}, NotBefore: from, NotAfter: until, Serial: big.NewInt(9),
		SubjectKeyID: id, AuthorityKeyID: id})
	return []*x509.Certificate{c.Cert}
}

// testKillResume kills md-order with sig while its order is in flight
// (order.json staged, the dns-01 hook still sleeping), then runs it again:
// the staged order is resumed and completed. SIGKILL hits the whole process
// group; SIGTERM only md-order, which must stop its hook, report the
// interruption in the record (exit 1) and leave the order for the next run.
func testKillResume(t *testing.T, ca *devca.CA, sig syscall.Signal) {
	dir := t.TempDir()
	tmp := t.TempDir()
	hook, _ := filepath.Abs("../../testdata/challenge/dns01-hook")
	slow := filepath.Join(tmp, "slow-hook")
	mark := filepath.Join(tmp, "slept")
	os.WriteFile(slow, []byte("#!/bin/sh\nif [ \"$1\" = setup ] && [ ! -e "+mark+" ]; then touch "+mark+"; sleep 60; fi\nexec "+hook+" \"$@\"\n"), 0o755)
	name := map[syscall.Signal]string{syscall.SIGKILL: "kill.test", syscall.SIGTERM: "term.test"}[sig] // own TXT records
	rec := record([]string{ca.DirectoryURL}, name)
	rec.CmdDNS01 = slow
	rec.CA.Challenges = []string{"dns-01"}
	in := jsonl(t, rec)

	cmd := exec.Command(os.Args[0], append([]string{"--store", dir, "--ca-file", ca.RootsFile}, "-")...)
	cmd.Env = append(os.Environ(), "MDORDER_TEST_AS_MAIN=1", "MD_CHALLTESTSRV="+strings.TrimPrefix(ca.ChallSrvURL, "http://"))
	cmd.Stdin = strings.NewReader(in)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	order := filepath.Join(dir, "staging", name, "order.json")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(mark); err == nil {
			if _, err := os.Stat(order); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("order.json did not appear")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if st := cmd.ProcessState; st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("md-order was not killed: %v", cmd.ProcessState)
		}
	} else {
		_ = cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("md-order did not stop on SIGTERM")
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the hook, if it survived
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stdout.String(), "interrupted") {
			t.Fatalf("SIGTERM: exit %d, output %s", code, stdout.String())
		}
		if _, err := os.Stat(order); err != nil {
			t.Fatalf("order.json removed on SIGTERM: %v", err)
		}
	}

	res := runOrder(t, in, "--store", dir, "--ca-file", ca.RootsFile)
	if res.code != 0 || res.recs[0].Order.Action != acmeflow.ActionResumed {
		t.Fatalf("after kill: exit %d order %+v error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
	}
	checkStaged(t, ca, dir, rec)
}
