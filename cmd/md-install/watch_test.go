package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/install"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestWatchProcess: md-install --watch, a real process over an etcd store,
// deploys a certificate another node activates after it started, and
// exits 0 on SIGTERM with the records of its runs on stdout.
func TestWatchProcess(t *testing.T) {
	bin := buildTool(t, "md-install")
	ca := devca.StartT(t, devca.Options{})
	srv := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	storeURL := "etcd://" + srv.Endpoint + "/fleet"
	spec := md.KeySpec{Type: md.KeyEC, Curve: "P-256"}
	newRec := func() *md.Record {
		return &md.Record{MD: md.MD{Name: "p.test", Domains: []string{"p.test"}, PrivKey: md.KeySpecs{spec}, RenewMode: md.RenewAuto}}
	}

	// node B: md-install --watch on the record with its deploy dir
	deployDir := filepath.Join(t.TempDir(), "certs")
	mine := newRec()
	mine.Host = &md.HostConfig{Deploy: &md.Deploy{Dir: filepath.Join(deployDir, "p.test")}}
	line, err := json.Marshal(mine)
	if err != nil {
		t.Fatal(err)
	}
	recFile := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(recFile, append(line, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderrFile := filepath.Join(t.TempDir(), "stderr")
	stderr, err := os.Create(stderrFile)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	errText := func() string { b, _ := os.ReadFile(stderrFile); return string(b) }
	cmd := exec.Command(bin, "--watch", "--no-verify", "--store", storeURL, "--store-key-file", keyFile, recFile)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// node A: stages a certificate from Pebble and activates it
	b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet", KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	a, err := store.OpenBackend(ctx, b, b.String())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	chain, err := ca.Issue(ctx, []string{"p.test"}, key)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRec()
	staged := rec.MD
	staged.CA = &md.CA{Proto: md.ProtoACME, URL: ca.DirectoryURL, URLs: []string{ca.DirectoryURL}}
	job := &md.Job{Name: "p.test", Finished: true, Notified: true}
	for _, err := range []error{
		a.SaveMD(ctx, store.GroupStaging, &staged),
		a.SaveKey(ctx, store.GroupStaging, "p.test", spec.FileName("privkey"), key),
		a.SaveChain(ctx, store.GroupStaging, "p.test", spec.FileName("pubcert"), chain),
		a.SaveJob(ctx, store.GroupStaging, "p.test", job),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := install.Run(ctx, install.Options{Store: a, NoVerify: true}, []*md.Record{rec}); err != nil || rec.Error != nil {
		t.Fatalf("activating on node A: %v %+v", err, rec.Error)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := os.ReadFile(filepath.Join(deployDir, "p.test", spec.FileName("cert")))
		if c, perr := store.ParseChainPEM(got); err == nil && perr == nil && len(c) == 1 && bytes.Equal(c[0].Raw, chain[0].Raw) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the activation was not deployed within 60 s; stderr:\n%s", errText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if code := cmd.ProcessState.ExitCode(); code != cli.ExitOK {
			t.Errorf("exit %d after SIGTERM; want 0; stderr:\n%s", code, errText())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("md-install --watch did not exit within 30 s of SIGTERM")
	}
	out, err := os.ReadFile(stdout.Name())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cli.ReadRecords(bytes.NewReader(out), "stdout", false)
	if err != nil || len(recs) == 0 {
		t.Fatalf("stdout: %v, %d records:\n%s", err, len(recs), out)
	}
	last := recs[len(recs)-1]
	if last.Name != "p.test" || last.Error != nil || last.Install == nil || last.Install.Deploy == "" {
		t.Errorf("last record: %s", out)
	}
}

// TestWatchNeedsEtcd: --watch on a store in a local directory is a usage
// error.
func TestWatchNeedsEtcd(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), []string{"md-install", "--watch", "--all", "--store", t.TempDir()},
		cli.Env{Stdin: bytes.NewReader(nil), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitUsage || !bytes.Contains(errOut.Bytes(), []byte("etcd://")) {
		t.Errorf("exit %d, stderr %q; want 2 and a word about etcd://", code, errOut.String())
	}
}

// Apache snippets name the store's files as Apache reads them: on a store
// in etcd, --apache-dir without --apache-store-dir is a usage error (exit
// 2, nothing done), found before any record is read.
func TestApacheDirOnEtcdNeedsStoreDir(t *testing.T) {
	srv := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := cli.Run(t.Context(), tool(), []string{"md-install", "--no-verify", "--store", "etcd://" + srv.Endpoint + "/apache",
		"--store-key-file", keyFile, "--apache-dir", t.TempDir()},
		cli.Env{Stdin: strings.NewReader(`{"name":"a.test","domains":["a.test"]}` + "\n"), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitUsage || out.Len() != 0 || !strings.Contains(errOut.String(), "--apache-store-dir") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, a hint at --apache-store-dir", code, out.String(), errOut.String())
	}
}
