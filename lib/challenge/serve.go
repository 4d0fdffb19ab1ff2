package challenge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Responder timeouts: the CA's validation connections are short.
const (
	readHeaderTimeout = 10 * time.Second
	handshakeTimeout  = 10 * time.Second
)

// Servers are standalone challenge responders answering from the store for
// every MD: http-01 on an HTTP listener, tls-alpn-01 on a TLS listener. On
// a store that can be watched (etcd), they keep the challenges in memory,
// updated by the store's watch as any node writes them (see cache).
type Servers struct {
	st  *store.Store
	log logger.Logger

	mu      sync.Mutex
	cache   *cache // nil when the store cannot be watched
	stopC   func() // stops the cache's watch and waits for it
	httpSrv *http.Server
	httpL   net.Listener
	tlsL    net.Listener
	wg      sync.WaitGroup
}

// NewServers returns responders over the store; start them with StartHTTP
// and StartTLS. log may be nil.
func NewServers(st *store.Store, log logger.Logger) *Servers {
	log = logger.Or(log)
	return &Servers{st: st, log: log}
}

// watchStore starts the challenge cache once, when the store can be
// watched (see cache).
func (s *Servers) watchStore() *cache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopC == nil {
		ctx, cancel := context.WithCancel(context.Background())
		c, wait := startCache(ctx, s.st, s.log)
		s.cache, s.stopC = c, func() { cancel(); wait() }
	}
	return s.cache
}

// StartHTTP serves http-01 on addr ("host:port").
func (s *Servers) StartHTTP(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http-01 responder: %w", err)
	}
	srv := &http.Server{Handler: httpHandler(s.st, s.watchStore(), s.log), ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout: readHeaderTimeout, WriteTimeout: readHeaderTimeout, ErrorLog: nil}
	s.mu.Lock()
	s.httpSrv, s.httpL = srv, l
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warnf("http-01 responder on %s stopped: %v", l.Addr(), err)
		}
	}()
	s.log.Infof("http-01 responder listening on %s", l.Addr())
	return nil
}

// StartTLS serves tls-alpn-01 (ALPN "acme-tls/1") on addr.
func (s *Servers) StartTLS(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tls-alpn-01 responder: %w", err)
	}
	s.mu.Lock()
	s.tlsL = l
	s.mu.Unlock()
	cfg := tlsALPNConfig(s.st, s.watchStore(), s.log)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var conns sync.WaitGroup
		defer conns.Wait()
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.log.Warnf("tls-alpn-01 responder on %s stopped: %v", l.Addr(), err)
				}
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				answerTLSALPN(c, cfg, s.log)
			}()
		}
	}()
	s.log.Infof("tls-alpn-01 responder listening on %s", l.Addr())
	return nil
}

// HTTPAddr is where the http-01 responder listens (nil if not started).
func (s *Servers) HTTPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpL == nil {
		return nil
	}
	return s.httpL.Addr()
}

// TLSAddr is where the tls-alpn-01 responder listens (nil if not started).
func (s *Servers) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsL == nil {
		return nil
	}
	return s.tlsL.Addr()
}

// Close stops both responders and waits for them.
func (s *Servers) Close() error {
	s.mu.Lock()
	var errs []error
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		s.httpSrv, s.httpL = nil, nil
	}
	if s.tlsL != nil {
		if err := s.tlsL.Close(); err != nil {
			errs = append(errs, err)
		}
		s.tlsL = nil
	}
	stopC := s.stopC
	s.cache, s.stopC = nil, nil
	s.mu.Unlock()
	s.wg.Wait()
	if stopC != nil {
		stopC()
	}
	return errors.Join(errs...)
}

// Serve runs the responders on the given addresses ("" = not that one)
// until ctx is done, then stops them cleanly. ready, if not nil, is called
// once both listen.
func Serve(ctx context.Context, st *store.Store, httpAddr, tlsAddr string, log logger.Logger, ready func(*Servers)) error {
	if httpAddr == "" && tlsAddr == "" {
		return errors.New("challenge: nothing to serve: give an http-01 or a tls-alpn-01 address")
	}
	s := NewServers(st, log)
	if httpAddr != "" {
		if err := s.StartHTTP(httpAddr); err != nil {
			s.Close()
			return err
		}
	}
	if tlsAddr != "" {
		if err := s.StartTLS(tlsAddr); err != nil {
			s.Close()
			return err
		}
	}
	if ready != nil {
		ready(s)
	}
	<-ctx.Done()
	return s.Close()
}

// listenAddrs are where a record's challenges are served: the Manager's
// options, else the record's host section (md.toml http-listen/tls-listen).
func (m *Manager) listenAddrs(rec *md.Record) (httpAddr, tlsAddr string) {
	if m.opts.NoListen {
		return "", ""
	}
	httpAddr, tlsAddr = m.opts.HTTPListen, m.opts.TLSListen
	if rec != nil && rec.Host != nil {
		if httpAddr == "" {
			httpAddr = rec.Host.HTTPListen
		}
		if tlsAddr == "" {
			tlsAddr = rec.Host.TLSListen
		}
	}
	return httpAddr, tlsAddr
}

// listenerLockName is the store lock (locks/<name>.lock) of a listen
// address on a node: a valid set name that no domain has.
func listenerLockName(node, key string) string {
	sum := sha256.Sum256([]byte(node + "\x00" + key))
	return "_listener-" + hex.EncodeToString(sum[:8])
}

// startListener starts the Manager's responder of a kind ("http" or
// "tls") on addr once; it keeps running until Close.
func (m *Manager) startListener(kind, addr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := kind + " " + addr
	if m.listeners[key] != nil {
		return nil
	}
	if m.closed {
		return errors.New("challenge: manager closed")
	}
	// Two runs over one store that listen on the same address: the lock
	// tells the second one that the port is busy because of the first
	// (its MDs wait, as when their own locks are held), not because of a
	// stranger (a failure the operator must see).
	node := m.opts.Node
	if node == "" {
		node = md.Node()
	}
	unlock, err := m.st.Lock(context.Background(), listenerLockName(node, key), -1)
	switch {
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("%w: another run over this store answers challenges on %s (%s)", err, addr, kind)
	case err != nil && !errors.Is(err, store.ErrReadOnly):
		return fmt.Errorf("locking the %s listener %s: %w", kind, addr, err)
	}
	if unlock == nil {
		unlock = func() {}
	}
	s := NewServers(m.st, m.log)
	if kind == "http" {
		err = s.StartHTTP(addr)
	} else {
		err = s.StartTLS(addr)
	}
	if err != nil {
		s.Close()
		unlock()
		return err
	}
	if m.listeners == nil {
		m.listeners = map[string]*Servers{}
		m.unlocks = map[string]func(){}
	}
	m.listeners[key] = s
	m.unlocks[key] = unlock
	if kind == "http" && m.firstHTTP == nil {
		m.firstHTTP = s.HTTPAddr()
	}
	if kind == "tls" && m.firstTLS == nil {
		m.firstTLS = s.TLSAddr()
	}
	return nil
}

// Listening reports the addresses of the first http-01 and tls-alpn-01
// listeners the Manager started (nil when none).
func (m *Manager) Listening() (httpAddr, tlsAddr net.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firstHTTP, m.firstTLS
}
