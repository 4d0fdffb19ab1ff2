package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestServeTwoNodesOnEtcd: two "md-challenge serve" processes (two nodes)
// over one etcd store answer a challenge a third party set up with
// "md-challenge setup"; they keep answering it once etcd is gone (it came
// to them through the store's watch), and stop with exit 0 on SIGTERM.
func TestServeTwoNodesOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	storeURL := "etcd://" + srv.Endpoint + "/fleet"
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	ports, err := devca.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	var addrs, logs []string
	var cmds []*exec.Cmd
	for i, p := range ports {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		logFile := filepath.Join(t.TempDir(), "serve"+strconv.Itoa(i)+".log")
		cmds = append(cmds, startServeLogged(t, logFile, "serve", "--store", storeURL, "--store-key-file", keyFile, "-vv", "--http", addr))
		addrs, logs = append(addrs, addr), append(logs, logFile)
	}
	tasks := f.tasks(t, `{"type":"http-01","domain":"www.a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`)
	if r := runCmd(t, "", "setup", "--store", storeURL, "--store-key-file", keyFile, "--tasks", tasks, f.records); r.code != 0 {
		t.Fatalf("setup: %s", r.errOut)
	}
	answers := func(addr string) bool {
		t.Helper()
		resp := waitHTTP(t, "http://"+addr+"/.well-known/acme-challenge/"+tok, "www.a.test")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && string(body) == ka
	}
	// each node holds the challenge in memory, brought by the watch
	for i, lf := range logs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, _ := os.ReadFile(lf)
			if strings.Contains(string(b), "www.a.test: http-01 held") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not hold the challenge within 30 s; log:\n%s", i, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	srv.Stop()
	for _, addr := range addrs {
		if !answers(addr) {
			t.Errorf("%s: no answer once etcd is gone; want the watched data", addr)
		}
	}
	for i, c := range cmds {
		if err := c.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil {
			t.Errorf("serve %d after SIGTERM: %v; want exit 0", i, err)
		}
	}
}

// startServeLogged runs the real binary's main in a child with its stderr
// in logFile; it is killed at the end of the test if still running.
func startServeLogged(t *testing.T, logFile string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MD_CHALLENGE_TEST_MAIN=1")
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}
