// Package etcdtest is test scaffolding: it starts a real, single-member
// etcd server (go.etcd.io/etcd/server/v3/embed) in the test process, on a
// loopback port the kernel chooses, with its data in t.TempDir(), and
// stops it in t.Cleanup. Not for production code.
package etcdtest

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running etcd member.
type Server struct {
	// Endpoint is the client address, "127.0.0.1:<port>".
	Endpoint string
	Etcd     *embed.Etcd
	stop     sync.Once
}

// Stop stops the server (again a no-op); t.Cleanup calls it too.
func (s *Server) Stop() { s.stop.Do(s.Etcd.Close) }

// Options change the server's defaults.
type Options struct {
	// MaxRequestBytes is --max-request-bytes (0: etcd's 1.5 MiB).
	MaxRequestBytes uint
}

// Start starts an etcd member for the test and waits until it serves.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "mdtools-test"
	cfg.Dir = t.TempDir()
	// port 0: the kernel picks free ports; the client port actually bound
	// is read from the listener below. One member never dials its peer URL.
	local := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{local}
	cfg.AdvertiseClientUrls = []url.URL{local}
	cfg.ListenPeerUrls = []url.URL{local}
	cfg.AdvertisePeerUrls = []url.URL{local}
	cfg.InitialCluster = cfg.Name + "=" + local.String()
	cfg.EnableGRPCGateway = false
	cfg.UnsafeNoFsync = true // a test's data need not survive a power cut
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	for _, o := range opts {
		if o.MaxRequestBytes > 0 {
			cfg.MaxRequestBytes = o.MaxRequestBytes
		}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	srv := &Server{Etcd: e}
	t.Cleanup(srv.Stop)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcd failed while starting: %v", err)
	case <-time.After(time.Minute):
		e.Server.Stop()
		t.Fatal("etcd was not ready within a minute")
	}
	srv.Endpoint = e.Clients[0].Addr().String()
	return srv
}
