package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestInProgressOnAnotherNode is issue 14's lock contention in a healthy
// fleet, with two processes on one etcd store: this test process is node
// web1 and holds an MD's lock (as its md-order would while ordering);
// md-order and md-install run as node web2 report the MD "in-progress on
// another node: web1" and exit 0, without an error in the record. The
// same commands run as node web1 (another run on the node that holds the
// lock) exit 3 as on a file store.
func TestInProgressOnAnotherNode(t *testing.T) {
	ctx := t.Context()
	srv := etcdtest.Start(t)
	storeURL := fleetNode(t, srv, "/busy")
	web1, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/busy",
		KeyFile: os.Getenv("MD_STORE_KEY_FILE"), Node: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	defer web1.Close()
	st, err := store.OpenBackend(ctx, web1, web1.String())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "md.toml")
	writeFile(t, conf, `[global]
certificate-authority = ["https://127.0.0.1:9/dir"]
certificate-agreement = "accepted"
deploy-dir = "`+filepath.Join(dir, "deploy")+`"

[[domain]]
domains = ["busy.test"]
ca-challenges = ["http-01"]
`)
	e := &env{store: storeURL}
	t.Setenv(md.NodeEnv, "web2")
	parse := e.run(t, nil, "md-parse", conf)
	if parse.code != 0 {
		t.Fatalf("md-parse: exit %d\n%s", parse.code, parse.stderr)
	}
	// web1's order is under way: staging/busy.test has its job
	if err := st.SaveJob(ctx, store.GroupStaging, "busy.test", &md.Job{Name: "busy.test"}); err != nil {
		t.Fatal(err)
	}
	held, err := web1.Lock(ctx, "busy.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock := sync.OnceFunc(held)
	defer unlock()

	for _, tc := range []struct {
		node string
		code int
	}{{"web2", 0}, {"web1", 3}} {
		t.Setenv(md.NodeEnv, tc.node)
		order := e.run(t, parse.stdout, "md-order", "--wait", "200ms")
		recs := order.records(t)
		if order.code != tc.code || len(recs) != 1 || recs[0].Order == nil {
			t.Fatalf("md-order as %s: exit %d, want %d\n%s\n%s", tc.node, order.code, tc.code, order.stdout, order.stderr)
		}
		install := e.run(t, order.stdout, "md-install", "--wait", "200ms")
		irecs := install.records(t)
		if install.code != tc.code || len(irecs) != 1 || irecs[0].Install == nil {
			t.Fatalf("md-install as %s: exit %d, want %d\n%s\n%s", tc.node, install.code, tc.code, install.stdout, install.stderr)
		}
		if tc.node == "web1" {
			continue
		}
		if o := recs[0].Order; o.Action != "in-progress" || o.Reason != "in progress on another node: web1" || recs[0].Error != nil {
			t.Errorf("md-order as web2: order %+v, error %+v", o, recs[0].Error)
		}
		if in := irecs[0].Install; in.Action != "in-progress" || !strings.Contains(in.Reason, "web1") || irecs[0].Error != nil {
			t.Errorf("md-install as web2: install %+v, error %+v", in, irecs[0].Error)
		}
	}
	// web1's lock is gone (its run ended): web2 orders itself
	unlock()
	t.Setenv(md.NodeEnv, "web2")
	order := e.run(t, parse.stdout, "md-order", "--wait", "200ms")
	if recs := order.records(t); len(recs) != 1 || recs[0].Order == nil || recs[0].Order.Action == "in-progress" {
		t.Errorf("md-order after the release: %s", order.stdout)
	}
}

// TestRenewOnEtcd runs scripts/md-renew, as every node's timer does, on an
// etcd store: it orders and installs (exit 0, summary), creates nothing
// named after the URL in its working directory (its own lock lives in
// $MD_RENEW_LOCK_DIR), and a second run does nothing.
func TestRenewOnEtcd(t *testing.T) {
	ca, _, _ := ocspCA(t)
	srv := etcdtest.Start(t)
	storeURL := fleetNode(t, srv, "/renew")
	dir := t.TempDir()
	deploy := filepath.Join(dir, "deploy")
	served := deployServer(t, "127.0.0.1", filepath.Join(deploy, "renew.test"))
	conf := tomlFor(t, ca, dir, "renew.test", deploy, served)
	cwd, lockDir := t.TempDir(), t.TempDir()
	renew := func() (int, string) {
		cmd := exec.Command(filepath.Join(moduleRoot(), "scripts", "md-renew"), "-v", "--store", storeURL,
			"--install-args", "--reload-cmd /bin/true", conf)
		cmd.Dir = cwd
		cmd.Env = append(os.Environ(), "MDTOOLS_BIN="+binDir, "MD_RENEW_LOCK_DIR="+lockDir, md.NodeEnv+"=web5")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := renew()
	if code != 0 || !strings.Contains(out, "1 ordered, 1 activated, 0 failed") {
		t.Fatalf("md-renew on etcd: exit %d\n%s", code, out)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("md-renew created %s in its working directory", entries[0].Name())
	}
	if _, err := os.Stat(filepath.Join(lockDir, ".md-renew.lock")); err != nil {
		t.Errorf("no lock in $MD_RENEW_LOCK_DIR: %v", err)
	}
	if code, out := renew(); code != 0 || !strings.Contains(out, "0 ordered, 0 activated, 0 failed") {
		t.Errorf("second md-renew: exit %d\n%s", code, out)
	}
}
