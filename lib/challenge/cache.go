package challenge

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"sync"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/store"
)

// cache is the challenge data of a store that can be watched (an etcd
// store shared by several nodes), held in memory and kept current by the
// store's watch: new challenge data written by any node is in every
// responder's cache as soon as the store reports it, and answering needs no
// request to the store (nor the store to be reachable).
//
// The cache only ever adds answers: a request it cannot answer (nothing
// cached for the host, or an http-01 token that is not the cached one)
// is answered from the store, as without a cache, so a CA that is faster
// than the watch still gets the current data.
type cache struct {
	st  *store.Store
	log logger.Logger

	mu   sync.RWMutex
	http map[string][]byte             // host -> key authorization
	tls  map[string][]*tls.Certificate // host -> challenge certificates, RSA first
}

// startCache starts watching st's challenges until ctx is done; it returns
// nil when the store cannot be watched (the filesystem store), and wait,
// which returns once the watch has ended.
func startCache(ctx context.Context, st *store.Store, log logger.Logger) (c *cache, wait func()) {
	log = logger.Or(log)
	events, ok, err := st.Watch(ctx, store.GroupChallenges)
	if !ok || err != nil {
		if err != nil {
			log.Warnf("challenge responder: cannot watch %s, reading it per request: %v", st, err)
		}
		return nil, func() {}
	}
	c = &cache{st: st, log: log, http: map[string][]byte{}, tls: map[string][]*tls.Certificate{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range events {
			if e.Resync {
				c.resync(ctx)
			} else {
				c.load(ctx, e.Name)
			}
		}
	}()
	log.Infof("challenge responder: watching the challenges in %s", st)
	return c, func() { <-done }
}

// resync reloads every set of the group and forgets the others.
func (c *cache) resync(ctx context.Context) {
	names, err := c.st.List(ctx, store.GroupChallenges)
	if err != nil {
		c.log.Warnf("challenge responder: listing the challenges in %s: %v", c.st, err)
		c.mu.Lock()
		clear(c.http)
		clear(c.tls)
		c.mu.Unlock()
		return
	}
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
		c.load(ctx, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.http {
		if !keep[n] {
			delete(c.http, n)
		}
	}
	for n := range c.tls {
		if !keep[n] {
			delete(c.tls, n)
		}
	}
}

// load reads one host's challenge data into the cache. What cannot be
// read is dropped from the cache (requests then go to the store).
func (c *cache) load(ctx context.Context, host string) {
	if ValidateChallengeDomain(host) != nil {
		return
	}
	data, err := c.st.Read(ctx, store.GroupChallenges, host, store.FileHTTP01)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warnf("challenge responder: reading the http-01 challenge of %s: %v", host, err)
	}
	certs, cerr := loadTLSALPN(ctx, c.st, host)
	if cerr != nil {
		c.log.Warnf("challenge responder: reading the tls-alpn-01 challenge of %s: %v", host, cerr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.http[host] = data
	} else {
		delete(c.http, host)
	}
	if cerr == nil && len(certs) > 0 {
		c.tls[host] = certs
	} else {
		delete(c.tls, host)
	}
	c.log.Debugf("challenge responder: %s: http-01 %s, tls-alpn-01 %d certificate(s) held", host, held(err == nil), len(c.tls[host]))
}

func held(ok bool) string {
	if ok {
		return "held"
	}
	return "none"
}

// httpAnswer is the cached key authorization of host when it is the one
// for token.
func (c *cache) httpAnswer(host, token string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	data, ok := c.http[host]
	if !ok || !bytes.HasPrefix(data, []byte(token+".")) {
		return nil, false
	}
	return data, true
}

// tlsCerts are the cached challenge certificates of host.
func (c *cache) tlsCerts(host string) ([]*tls.Certificate, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	certs, ok := c.tls[host]
	return certs, ok
}
