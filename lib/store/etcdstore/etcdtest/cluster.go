package etcdtest

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is an n-member etcd cluster in the test process. Its members'
// peer and client ports come from devca.FreePorts (reserved for this
// process, so a stopped member can be restarted on the same ports), each
// member's data is in its own t.TempDir(), and t.Cleanup stops them all.
type Cluster struct {
	// Endpoints are the members' client addresses, "127.0.0.1:<port>",
	// in member order; they do not change when a member restarts.
	Endpoints []string
	members   []*member
	initial   string
}

type member struct {
	name         string
	dir          string
	peer, client url.URL
	mu           sync.Mutex
	etcd         *embed.Etcd // nil while stopped
}

// StartCluster starts an n-member cluster and waits until every member
// serves (has joined and a leader is elected).
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcdtest.StartCluster: %d members", n)
	}
	ports, err := devca.FreePorts(2 * n)
	if err != nil {
		t.Fatalf("ports for etcd: %v", err)
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		m := &member{name: fmt.Sprintf("m%d", i), dir: t.TempDir(),
			peer:   url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])},
			client: url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}}
		c.members = append(c.members, m)
		c.Endpoints = append(c.Endpoints, m.client.Host)
		initial = append(initial, m.name+"="+m.peer.String())
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(func() {
		for i := range c.members {
			c.Stop(i)
		}
	})
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	c.Restart(t, all...)
	return c
}

// URL is the etcd:// store URL naming every member, with prefix
// ("/fleet").
func (c *Cluster) URL(prefix string) string {
	return "etcd://" + strings.Join(c.Endpoints, ",") + prefix
}

// Stop stops member i (again a no-op).
func (c *Cluster) Stop(i int) {
	m := c.members[i]
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts the stopped members given (all at once: two of three
// need each other for a quorum) on their ports and data, and waits until
// each serves. Members that run are left alone.
func (c *Cluster) Restart(t testing.TB, members ...int) {
	t.Helper()
	var started []*embed.Etcd
	for _, i := range members {
		m := c.members[i]
		m.mu.Lock()
		if m.etcd != nil {
			m.mu.Unlock()
			continue
		}
		e, err := embed.StartEtcd(c.config(m))
		if err != nil {
			m.mu.Unlock()
			t.Fatalf("starting etcd member %s: %v", m.name, err)
		}
		m.etcd = e
		m.mu.Unlock()
		started = append(started, e)
	}
	deadline := time.After(time.Minute)
	for _, e := range started {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			t.Fatalf("etcd member %s failed while starting: %v", e.Config().Name, err)
		case <-deadline:
			t.Fatalf("etcd member %s was not ready within a minute", e.Config().Name)
		}
	}
}

func (c *Cluster) config(m *member) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.client}
	cfg.AdvertiseClientUrls = []url.URL{m.client}
	cfg.ListenPeerUrls = []url.URL{m.peer}
	cfg.AdvertisePeerUrls = []url.URL{m.peer}
	cfg.InitialCluster = c.initial
	cfg.InitialClusterToken = "mdtools-test"
	cfg.EnableGRPCGateway = false
	cfg.UnsafeNoFsync = true // a test's data need not survive a power cut
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg
}

// Leader is the index of the member that leads, or -1 (no running
// member knows a leader).
func (c *Cluster) Leader() int {
	for _, m := range c.members {
		m.mu.Lock()
		e := m.etcd
		m.mu.Unlock()
		if e == nil {
			continue
		}
		lead := e.Server.Leader()
		for j, o := range c.members {
			o.mu.Lock()
			if o.etcd != nil && o.etcd.Server.MemberID() == lead {
				o.mu.Unlock()
				return j
			}
			o.mu.Unlock()
		}
	}
	return -1
}
