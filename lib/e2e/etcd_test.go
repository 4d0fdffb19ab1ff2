package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/migrate"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
	"github.com/mdtools/mdtools/lib/store/storetest"
)

// fleetNode is one node's view of an etcd store: the store URL and the
// node key file (the same key on every node of a fleet), set in the
// environment of every command the test runs.
func fleetNode(t *testing.T, srv *etcdtest.Server, prefix string) string {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	keyFile := filepath.Join(t.TempDir(), "store.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MD_STORE_KEY_FILE", keyFile)
	return "etcd://" + srv.Endpoint + prefix
}

// tomlFor is an md.toml for one MD on Pebble, answered by http-01 on
// md-order's own listener, deployed as files under deploy, stapled.
func tomlFor(t *testing.T, ca *devca.CA, dir, name, deploy, served string) string {
	t.Helper()
	conf := filepath.Join(dir, "md.toml")
	writeFile(t, conf, fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
certificate-agreement = "accepted"
contact-email = "admin@%s"
port-map = "http:%d https:%d"
deploy-dir = %q
stapling = true

[[domain]]
domains = [%q]
ca-challenges = ["http-01"]
http-listen = "127.0.0.1:%d"
https-addr = %q
`, ca.DirectoryURL, ca.RootsFile, name, ca.HTTPPort, ca.TLSPort, deploy, name, ca.HTTPPort, served))
	return conf
}

// pipeline runs md-parse | md-order | md-install | md-staple on conf with
// $MD_STORE=storeURL and fails the test unless every stage exits 0.
func pipeline(t *testing.T, e *env, conf string) (order, install result) {
	t.Helper()
	parse := e.run(t, nil, "md-parse", conf)
	order = e.run(t, parse.stdout, "md-order")
	install = e.run(t, order.stdout, "md-install", "--reload-cmd", "/bin/true")
	staple := e.run(t, install.stdout, "md-staple")
	if parse.code != 0 || order.code != 0 || install.code != 0 || staple.code != 0 {
		t.Fatalf("exit codes parse %d order %d install %d staple %d\n%s%s%s%s", parse.code, order.code, install.code, staple.code,
			parse.stderr, order.stderr, install.stderr, staple.stderr)
	}
	return order, install
}

// statusJSON is md-status --json for one store, with the store's name
// taken out (it is the only thing that differs between two copies).
func statusJSON(t *testing.T, e *env, storeName string) string {
	t.Helper()
	r := e.run(t, nil, "md-status", "--json", "--store", storeName)
	if r.code != 0 {
		t.Fatalf("md-status --store %s: exit %d\n%s", storeName, r.code, r.stderr)
	}
	return strings.ReplaceAll(string(r.stdout), storeName, "STORE")
}

// TestEtcdPipeline is issue 14's pipeline on an etcd store: md-parse |
// md-order | md-install | md-staple with $MD_STORE=etcd://... against
// Pebble obtains a certificate (http-01 on a loopback port), deploys it
// as files on local disk (served by a TLS server that reads them),
// staples it; md-status on the etcd store shows it; a second run orders
// nothing and Pebble sees no new order.
func TestEtcdPipeline(t *testing.T) {
	ca, _, _ := ocspCA(t)
	srv := etcdtest.Start(t)
	storeURL := fleetNode(t, srv, "/fleet")
	dir := t.TempDir()
	deploy := filepath.Join(dir, "deploy")
	served := deployServer(t, "127.0.0.1", filepath.Join(deploy, "etcd.test"))
	conf := tomlFor(t, ca, dir, "etcd.test", deploy, served)
	e := &env{ca: ca, store: storeURL, pebbleLog: filepath.Join(ca.Dir, "pebble.log")}

	// node web1 orders, node web2 installs (and staples)
	t.Setenv(md.NodeEnv, "web1")
	parse := e.run(t, nil, "md-parse", conf)
	order := e.run(t, parse.stdout, "md-order")
	t.Setenv(md.NodeEnv, "web2")
	install := e.run(t, order.stdout, "md-install", "--reload-cmd", "/bin/true")
	staple := e.run(t, install.stdout, "md-staple")
	if parse.code != 0 || order.code != 0 || install.code != 0 || staple.code != 0 {
		t.Fatalf("exit codes parse %d order %d install %d staple %d\n%s%s%s%s", parse.code, order.code, install.code, staple.code,
			parse.stderr, order.stderr, install.stderr, staple.stderr)
	}
	if recs := order.records(t); len(recs) != 1 || recs[0].Order == nil || recs[0].Order.Action != "ordered" {
		t.Fatalf("first md-order: %s", order.stdout)
	}
	recs := install.records(t)
	if len(recs) != 1 || recs[0].Install == nil || recs[0].Install.Served == nil || !*recs[0].Install.Served {
		t.Fatalf("md-install: %s\n%s", install.stdout, install.stderr)
	}
	if fi, err := os.Stat(filepath.Join(deploy, "etcd.test", "privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("deployed key: %v %v", fi, err)
	}
	var st struct {
		MDs []struct {
			Name  string            `json:"name"`
			State int               `json:"state"`
			Cert  map[string]any    `json:"cert"`
			Nodes map[string]string `json:"nodes"`
		} `json:"managed-domains"`
	}
	if err := json.Unmarshal([]byte(statusJSON(t, e, storeURL)), &st); err != nil {
		t.Fatalf("md-status --json: %v", err)
	}
	if len(st.MDs) != 1 || st.MDs[0].Name != "etcd.test" || st.MDs[0].Cert["valid"] == nil ||
		st.MDs[0].Nodes["ordered"] != "web1" || st.MDs[0].Nodes["installed"] != "web2" {
		t.Errorf("md-status on the etcd store: %+v", st)
	}
	table := e.run(t, nil, "md-status", "--table")
	if lines := strings.Split(string(table.stdout), "\n"); table.code != 0 || len(lines) < 2 ||
		!strings.Contains(lines[0], " NODE ") || !strings.Contains(lines[1], "ordered web1, installed web2") {
		t.Errorf("md-status --table: exit %d\n%s%s", table.code, table.stdout, table.stderr)
	}
	orders := e.pebbleOrders(t)
	order, _ = pipeline(t, e, conf)
	if recs := order.records(t); len(recs) != 1 || recs[0].Order == nil || recs[0].Order.Action == "ordered" {
		t.Errorf("second md-order ordered again: %s", order.stdout)
	}
	if n := e.pebbleOrders(t); n != orders {
		t.Errorf("second run: Pebble has %d orders, was %d", n, orders)
	}

	// a third node with its own deploy directory (its own md.toml, the
	// same MD): its run orders nothing and deploys the live certificate
	t.Setenv(md.NodeEnv, "web3")
	dir3 := t.TempDir()
	deploy3 := filepath.Join(dir3, "deploy")
	served3 := deployServer(t, "127.0.0.1", filepath.Join(deploy3, "etcd.test"))
	order, install = pipeline(t, e, tomlFor(t, ca, dir3, "etcd.test", deploy3, served3))
	if recs := order.records(t); len(recs) != 1 || recs[0].Order == nil || recs[0].Order.Action == "ordered" {
		t.Errorf("md-order on web3 ordered: %s", order.stdout)
	}
	if recs := install.records(t); len(recs) != 1 || recs[0].Install == nil || recs[0].Install.Served == nil || !*recs[0].Install.Served {
		t.Errorf("md-install on web3: %s\n%s", install.stdout, install.stderr)
	}
	a, _ := os.ReadFile(filepath.Join(deploy, "etcd.test", "fullchain.pem"))
	b, err := os.ReadFile(filepath.Join(deploy3, "etcd.test", "fullchain.pem"))
	if err != nil || len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("web3's deployed chain is not web2's: %v", err)
	}
	if n := e.pebbleOrders(t); n != orders {
		t.Errorf("web3's run: Pebble has %d orders, was %d", n, orders)
	}
}

// TestStoreMigration moves a store with a certificate Pebble issued (and
// its account, job logs, staple) from files to etcd and back with
// md-parse import store: every file arrives (counts per group on stdout),
// the tree after the round trip is the original byte for byte and mode
// for mode (lock files aside), md-status shows the same on all three
// stores, and md-order on the etcd copy finds nothing to order. Copying
// into a store that holds data is refused (exit 2).
func TestStoreMigration(t *testing.T) {
	ca, _, _ := ocspCA(t)
	srv := etcdtest.Start(t)
	storeURL := fleetNode(t, srv, "/migrated")
	dir := t.TempDir()
	fileStore, back := filepath.Join(dir, "store"), filepath.Join(dir, "back")
	deploy := filepath.Join(dir, "deploy")
	served := deployServer(t, "127.0.0.1", filepath.Join(deploy, "move.test"))
	conf := tomlFor(t, ca, dir, "move.test", deploy, served)
	e := &env{ca: ca, store: fileStore, pebbleLog: filepath.Join(ca.Dir, "pebble.log")}
	pipeline(t, e, conf)

	there := e.run(t, nil, "md-parse", "import", "--store", storeURL, "store", fileStore)
	if there.code != 0 {
		t.Fatalf("import store -> etcd: exit %d\n%s", there.code, there.stderr)
	}
	var rep migrate.Report
	if err := json.Unmarshal(there.stdout, &rep); err != nil {
		t.Fatalf("stdout is not the report: %v\n%s", err, there.stdout)
	}
	for _, g := range []string{"root", "accounts", "domains", "staging", "archive", "ocsp"} {
		if gc := rep.Groups[g]; g != "staging" && g != "archive" && (gc == nil || gc.Files == 0 || gc.Copied != gc.Files) {
			t.Errorf("group %s: %+v", g, gc)
		}
	}
	if rep.Total.Files == 0 || rep.Verified != rep.Total.Files || rep.StoreKey != "copied" {
		t.Errorf("report total %+v, verified %d, store key %q", rep.Total, rep.Verified, rep.StoreKey)
	}
	again := e.run(t, nil, "md-parse", "import", "--store", storeURL, "store", fileStore)
	if again.code != 2 || len(again.stdout) != 0 || !strings.Contains(again.stderr, "not empty") {
		t.Errorf("import into a store with data: exit %d, stdout %q\n%s", again.code, again.stdout, again.stderr)
	}

	home := e.run(t, nil, "md-parse", "import", "--store", back, "store", storeURL)
	if home.code != 0 {
		t.Fatalf("import store etcd -> file: exit %d\n%s", home.code, home.stderr)
	}
	a, b := storetest.Tree(t, fileStore), storetest.Tree(t, back)
	for p, v := range a {
		if b[p] != v {
			t.Errorf("%s differs after the round trip file -> etcd -> file", p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s: only after the round trip", p)
		}
	}
	want := statusJSON(t, e, fileStore)
	for _, s := range []string{storeURL, back} {
		if got := statusJSON(t, e, s); got != want {
			t.Errorf("md-status --json on %s:\n%s\nwant (as on the original):\n%s", s, got, want)
		}
	}
	if !strings.Contains(want, `"move.test"`) {
		t.Errorf("md-status does not show the MD: %s", want)
	}

	orders := e.pebbleOrders(t)
	e.store = storeURL
	order, _ := pipeline(t, e, conf)
	if recs := order.records(t); len(recs) != 1 || recs[0].Order == nil || recs[0].Order.Action == "ordered" {
		t.Errorf("md-order on the etcd copy ordered: %s", order.stdout)
	}
	if n := e.pebbleOrders(t); n != orders {
		t.Errorf("Pebble has %d orders after the run on the copy, was %d", n, orders)
	}
}
