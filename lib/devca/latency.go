package devca

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyProxy is a TCP proxy on loopback that delays every byte by a
// one-way delay in each direction, as a distant server would: a request
// and its answer take a round trip of twice the delay, however many are
// in flight on a connection at once. Bandwidth is not limited. Benchmarks
// put it in front of Pebble to see what a run costs over a real link.
type LatencyProxy struct {
	Addr     string // host:port to connect to instead of the upstream
	upstream string
	ln       net.Listener
	oneWay   atomic.Int64 // nanoseconds
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// StartLatencyProxy listens on a free loopback port and forwards each
// connection to upstream with no delay until SetDelay.
func StartLatencyProxy(upstream string) (*LatencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// SetDelay sets the one-way delay of the bytes read from now on.
func (p *LatencyProxy) SetDelay(oneWay time.Duration) { p.oneWay.Store(int64(oneWay)) }

// Close stops listening, closes every connection and waits until every
// goroutine of the proxy has ended.
func (p *LatencyProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// track remembers c for Close; false when the proxy is closing.
func (p *LatencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *LatencyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *LatencyProxy) serve(down net.Conn) {
	defer p.wg.Done()
	if !p.track(down) {
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil || !p.track(up) {
		down.Close()
		return
	}
	var pair sync.WaitGroup
	pair.Add(2)
	go func() { defer pair.Done(); p.pipe(up, down) }()
	go func() { defer pair.Done(); p.pipe(down, up) }()
	pair.Wait()
	p.mu.Lock()
	delete(p.conns, up)
	delete(p.conns, down)
	p.mu.Unlock()
	up.Close()
	down.Close()
}

// chunk is what one read returned and when it may be written.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each chunk delivered the one-way delay after
// it was read; a reader and a writer goroutine, so that later chunks
// travel while earlier ones wait, as on a wire.
func (p *LatencyProxy) pipe(dst, src net.Conn) {
	queue := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range queue {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.data); err != nil {
				src.Close() // stop the reader too
				for range queue {
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // pass the half-close on
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{buf[:n], time.Now().Add(time.Duration(p.oneWay.Load()))}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			break
		}
	}
	close(queue)
	<-done
}
