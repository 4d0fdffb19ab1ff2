package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// fleetMDs is how many MDs TestFleet orders: $MDTOOLS_FLEET_MDS (for
// scripts/bench-fleet), else 20.
func fleetMDs(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("MDTOOLS_FLEET_MDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MDTOOLS_FLEET_MDS=%q: not a count", v)
		}
		return n
	}
	return 20
}

// fleet is issue 14's fleet: Pebble, a 3-member etcd cluster holding one
// store, and three nodes (web1..web3), each a set of processes with its
// own MD_NODE, deploy directory, md.toml and TLS server, and each running
// md-challenge serve. Pebble's VA reaches web1's serve only: the orders
// other nodes place are answered there, from the store.
type fleet struct {
	ca       *devca.CA
	etcd     *etcdtest.Cluster
	storeURL string
	keyFile  string
	roots    *x509.CertPool
	names    []string // the MDs
	nodes    []*fleetHost
	log      string // Pebble's log
}

// fleetHost is one node of the fleet.
type fleetHost struct {
	name   string
	deploy string // its deploy-dir
	conf   string // its md.toml
	https  string // its TLS server, serving deploy/<SNI>/
	serve  *exec.Cmd
	env    []string // extra environment of every command run here
	mu     sync.Mutex
	cpu    time.Duration // user + system time of the commands run here
}

func startFleet(t *testing.T, nMDs int) *fleet { return startFleetWith(t, nMDs, nil) }

// startFleetWith starts a fleet; with va, Pebble's VA reaches web1's
// md-challenge serve through va (a handler in front of it), and every
// node's environment has extra.
func startFleetWith(t *testing.T, nMDs int, va func(next http.Handler) http.Handler, extra ...string) *fleet {
	t.Helper()
	f := &fleet{ca: devca.StartT(t, devca.Options{})}
	f.log = filepath.Join(f.ca.Dir, "pebble.log")
	nodes := []string{"web1", "web2", "web3"}
	if os.Getenv("MDTOOLS_FLEET_STORE") == "files" {
		// scripts/bench-fleet's comparison: one node on a directory store
		f.storeURL, nodes = filepath.Join(t.TempDir(), "store"), nodes[:1]
	} else {
		f.etcd = etcdtest.StartCluster(t, 3)
		f.storeURL = f.etcd.URL("/fleet")
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	f.keyFile = filepath.Join(t.TempDir(), "store.key")
	writeFile(t, f.keyFile, base64.StdEncoding.EncodeToString(k)+"\n")
	if err := os.Chmod(f.keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	roots, err := f.ca.IssuerRoots()
	if err != nil {
		t.Fatal(err)
	}
	f.roots = roots
	for i := range nMDs {
		f.names = append(f.names, fmt.Sprintf("m%03d.fleet.test", i))
	}
	ports, err := devca.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range nodes {
		dir := t.TempDir()
		h := &fleetHost{name: name, deploy: filepath.Join(dir, "deploy"), conf: filepath.Join(dir, "md.toml")}
		h.env = append([]string{"MD_STORE=" + f.storeURL, etcdstore.KeyFileEnv + "=" + f.keyFile, md.NodeEnv + "=" + name, "NO_COLOR=1"}, extra...)
		h.https = sniServer(t, h.deploy)
		// each node lists the MDs from its own starting point, so that
		// each begins with MDs the others reach last (md-order --jobs 4:
		// the first MDs of the three nodes do not overlap)
		rotated := append(append([]string(nil), f.names[i*nMDs/len(nodes):]...), f.names[:i*nMDs/len(nodes)]...)
		writeFile(t, h.conf, f.toml(h, append(rotated, warmMD)))
		addr := "127.0.0.1:" + strconv.Itoa(f.ca.HTTPPort)
		if i > 0 || va != nil {
			addr = "127.0.0.1:" + strconv.Itoa(ports[i])
		}
		h.serve = h.startServe(t, addr)
		if i == 0 && va != nil {
			target, _ := url.Parse("http://" + addr)
			vaFront(t, f.ca.HTTPPort, va(httputil.NewSingleHostReverseProxy(target)))
		}
		f.nodes = append(f.nodes, h)
	}
	// the fleet's first MD, ordered on web2 alone: its account is the
	// fleet's (not one registered by every first order of every node at
	// once), and an order placed on a node Pebble does not reach is
	// answered by another node's md-challenge serve
	last := f.nodes[len(f.nodes)-1]
	web2 := &fleetHost{name: last.name, deploy: last.deploy, https: last.https, env: last.env,
		conf: filepath.Join(t.TempDir(), "md.toml")}
	writeFile(t, web2.conf, f.toml(web2, []string{warmMD}))
	warm := web2.cycle()
	warm.ok(t)
	if recs := warm.order.records(t); len(recs) != 1 || recs[0].Order.Action != "ordered" {
		t.Fatalf("md-order of %s on %s: %s", warmMD, web2.name, warm.order.stdout)
	}
	return f
}

// warmMD is the fleet's first MD, ordered before the others.
const warmMD = "warm.fleet.test"

// toml is node h's md.toml: the MDs in the order given, http-01 answered
// by md-challenge serve (md-order has no listener), deployed as files.
func (f *fleet) toml(h *fleetHost, names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[global]
certificate-authority = [%q]
ca-certificate-file = %q
certificate-agreement = "accepted"
contact-email = "admin@fleet.test"
port-map = "http:%d https:%d"
deploy-dir = %q
`, f.ca.DirectoryURL, f.ca.RootsFile, f.ca.HTTPPort, f.ca.TLSPort, h.deploy)
	for _, n := range names {
		fmt.Fprintf(&b, "\n[[domain]]\ndomains = [%q]\nca-challenges = [\"http-01\"]\nhttps-addr = %q\n", n, h.https)
	}
	return b.String()
}

// vaFront serves h on port (Pebble's VA port) until the test ends.
func vaFront(t *testing.T, port int, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}

// sniServer is a TLS server serving, at every handshake, the deployed
// fullchain and key under root named by the client's SNI (a web server
// after md-install's reload).
func sniServer(t *testing.T, root string) string {
	t.Helper()
	return tlsServer(t, "127.0.0.1", func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" || strings.ContainsAny(hello.ServerName, "/\\") || strings.HasPrefix(hello.ServerName, ".") {
			return nil, errors.New("no such name")
		}
		dir := filepath.Join(root, hello.ServerName)
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem"))
		return &c, err
	})
}

// startServe runs md-challenge serve on the node, answering http-01 on
// addr, until the test ends (SIGTERM; it must exit 0). It returns once
// addr accepts connections.
func (h *fleetHost) startServe(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "md-challenge"), "serve", "--http", addr, "-v")
	cmd.Env = append(os.Environ(), h.env...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer logf.Close()
		if cmd.ProcessState != nil {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			log, _ := os.ReadFile(logf.Name())
			t.Errorf("%s: md-challenge serve after SIGTERM: %v\n%s", h.name, err, log)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s: md-challenge serve does not listen on %s within 30 s\n%s", h.name, addr, log)
		}
	}
}

// run runs a built command on the node (safe in goroutines: it reports
// a failure to start as an error, not with t.Fatal).
func (h *fleetHost) run(stdin []byte, name string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(os.Environ(), h.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return result{}, fmt.Errorf("%s on %s: %w", name, h.name, err)
	}
	h.mu.Lock()
	h.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	h.mu.Unlock()
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.Bytes(), stderr: errb.String()}, nil
}

// nodeRun is one node's md-parse | md-order | md-install.
type nodeRun struct {
	host                  *fleetHost
	parse, order, install result
	err                   error
}

// cycle runs md-parse | md-order | md-install on the node, one stage
// after the other; a stage that exits non-zero ends it.
func (h *fleetHost) cycle() (r nodeRun) {
	r.host = h
	if r.parse, r.err = h.run(nil, "md-parse", h.conf); r.err != nil || r.parse.code != 0 {
		return r
	}
	if r.order, r.err = h.run(r.parse.stdout, "md-order", orderArgs...); r.err != nil || r.order.code != 0 {
		return r
	}
	r.install, r.err = h.run(r.order.stdout, "md-install", installArgs...)
	return r
}

// The stages' arguments on every node: md-order works on 4 MDs at once,
// so that the first MDs of the three nodes do not overlap.
var (
	orderArgs   = []string{"--wait", "1s", "--jobs", "4"}
	installArgs = []string{"--reload-cmd", "/bin/true", "--wait", "1s"}
)

// ok fails the test unless every stage of the run exited 0.
func (r nodeRun) ok(t *testing.T) {
	t.Helper()
	if r.err != nil || r.parse.code != 0 || r.order.code != 0 || r.install.code != 0 {
		t.Fatalf("%s: %v; exit codes parse %d order %d install %d\n%s%s%s", r.host.name, r.err, r.parse.code, r.order.code, r.install.code,
			r.parse.stderr, r.order.stderr, r.install.stderr)
	}
}

// all runs md-parse | md-order | md-install on every node at once, each
// stage started on the three nodes together (md-parse takes the store's
// lock for its sync, which would otherwise stagger the nodes' orders).
func (f *fleet) all() []nodeRun {
	runs := make([]nodeRun, len(f.nodes))
	stage := func(do func(r *nodeRun)) {
		var wg sync.WaitGroup
		for i := range runs {
			if r := &runs[i]; r.err == nil && r.parse.code == 0 && r.order.code == 0 {
				wg.Go(func() { do(r) })
			}
		}
		wg.Wait()
	}
	for i, h := range f.nodes {
		runs[i].host = h
	}
	stage(func(r *nodeRun) { r.parse, r.err = r.host.run(nil, "md-parse", r.host.conf) })
	stage(func(r *nodeRun) { r.order, r.err = r.host.run(r.parse.stdout, "md-order", orderArgs...) })
	stage(func(r *nodeRun) { r.install, r.err = r.host.run(r.order.stdout, "md-install", installArgs...) })
	return runs
}

// orderedBy maps each MD to the nodes whose md-order ordered (or resumed)
// it in runs, and fails the test on an action that is neither that nor
// nothing to do / another node's work.
func orderedBy(t *testing.T, runs []nodeRun) map[string][]string {
	t.Helper()
	by := map[string][]string{}
	for _, r := range runs {
		for _, rec := range r.order.records(t) {
			switch a := rec.Order.Action; a {
			case "ordered", "resumed":
				by[rec.Name] = append(by[rec.Name], r.host.name)
			case "none", "in-progress", "staged":
			default:
				t.Errorf("%s: md-order %s: %s (%s)", r.host.name, rec.Name, a, rec.Order.Reason)
			}
		}
	}
	return by
}

// checkServed checks that every node deployed every MD's certificate and
// its TLS server serves it for the name (verified against Pebble's
// roots), the same certificate on every node.
func (f *fleet) checkServed(t *testing.T) {
	t.Helper()
	for _, n := range f.names {
		var first *x509.Certificate
		for _, h := range f.nodes {
			if fi, err := os.Stat(filepath.Join(h.deploy, n, "privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: deployed key of %s: %v %v", h.name, n, fi, err)
				continue
			}
			conn, err := tls.Dial("tcp", h.https, &tls.Config{ServerName: n, RootCAs: f.roots})
			if err != nil {
				t.Errorf("%s: TLS for %s: %v", h.name, n, err)
				continue
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if first == nil {
				first = leaf
			} else if !leaf.Equal(first) {
				t.Errorf("%s serves another certificate for %s than %s", h.name, n, f.nodes[0].name)
			}
		}
	}
}

// TestFleet is issue 14's fleet: three nodes on one store in a 3-member
// etcd cluster run md-parse | md-order | md-install at the same time over
// the same MDs (after a first MD ordered on web2 and validated through
// web1's md-challenge serve). Each MD is ordered exactly once (by one node; Pebble sees
// one order per MD), the other nodes say in-progress, staged or none and
// exit 0; after the next md-install on each node (what its timer or
// md-install --watch does), every node deploys every certificate and its
// TLS server serves it.
func TestFleet(t *testing.T) {
	f := startFleet(t, fleetMDs(t))
	start := time.Now()
	runs := f.all()
	for _, r := range runs {
		r.ok(t)
	}
	by := orderedBy(t, runs)
	perNode := map[string]int{}
	for _, n := range f.names {
		if len(by[n]) != 1 {
			t.Errorf("%s ordered by %v; want exactly one node", n, by[n])
		}
		for _, h := range by[n] {
			perNode[h]++
		}
	}
	if n := pebbleOrders(t, f.log); n != len(f.names)+1 {
		t.Errorf("Pebble has %d orders for %d MDs", n, len(f.names)+1)
	}
	t.Logf("orders per node: %v (each begins with its own MDs; which node gets how many depends on when each starts)", perNode)
	// the next run on each node: nothing ordered, everything deployed
	runs = f.all()
	for _, r := range runs {
		r.ok(t)
	}
	if by := orderedBy(t, runs); len(by) != 0 {
		t.Errorf("second run ordered %v", by)
	}
	if n := pebbleOrders(t, f.log); n != len(f.names)+1 {
		t.Errorf("after the second run Pebble has %d orders for %d MDs", n, len(f.names)+1)
	}
	f.checkServed(t)
	t.Logf("BENCH deploy: %d node(s), %d MDs, store %s: every node serves every certificate after %.1f s",
		len(f.nodes), len(f.names), f.kind(), time.Since(start).Seconds())
	// a run with nothing due on every node: its cost
	cpu, reqs := f.cpu(), f.etcdRequests(t)
	start = time.Now()
	for _, r := range f.all() {
		r.ok(t)
	}
	t.Logf("BENCH no-op cycle: %d node(s) at once, %d MDs, store %s: wall %.2f s, CPU %.2f s, etcd requests %d",
		len(f.nodes), len(f.names)+1, f.kind(), time.Since(start).Seconds(), (f.cpu() - cpu).Seconds(), f.etcdRequests(t)-reqs)
}

func (f *fleet) kind() string {
	if f.etcd == nil {
		return "files"
	}
	return "etcd (3 members)"
}

// cpu is the user + system time of every command the nodes ran so far.
func (f *fleet) cpu() time.Duration {
	var d time.Duration
	for _, h := range f.nodes {
		h.mu.Lock()
		d += h.cpu
		h.mu.Unlock()
	}
	return d
}

// etcdRequests is the number of gRPC requests the etcd members have
// answered (grpc_server_handled_total on their /metrics), 0 without etcd.
func (f *fleet) etcdRequests(t *testing.T) int {
	t.Helper()
	if f.etcd == nil {
		return 0
	}
	n := 0
	for _, ep := range f.etcd.Endpoints {
		resp, err := http.Get("http://" + ep + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(body), "\n") {
			if rest, ok := strings.CutPrefix(line, "grpc_server_handled_total{"); ok {
				_, v, _ := strings.Cut(rest, "} ")
				x, _ := strconv.ParseFloat(v, 64)
				n += int(x)
			}
		}
	}
	return n
}

// pebbleOrders counts the orders in Pebble's log.
func pebbleOrders(t *testing.T, log string) int {
	t.Helper()
	return (&env{pebbleLog: log}).pebbleOrders(t)
}
