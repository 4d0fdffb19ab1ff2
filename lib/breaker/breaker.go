// Package breaker keeps a run from waiting out its timeout for every
// request to a server that has stopped answering. md-order over 10,000 MDs
// whose CA hangs would wait a minute for each of them, 16 at a time (over
// ten hours; seen with a Pebble whose store deadlocked under load), and
// md-staple the same for an OCSP responder. A Transport counts, per host,
// the requests in a row that got no answer (a timeout, a refused or reset
// connection); after Limit of them every request to that host fails at
// once for Pause, then requests go out again until one that counts shows
// whether the host answers. The caller records each refused request as it
// records one that timed out (job log, backoff, exit 1).
package breaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Defaults of Transport.Limit and Transport.Pause.
const (
	DefaultLimit = 5
	DefaultPause = time.Minute
)

// ErrNoAnswer is the error of the requests a Transport refused.
var ErrNoAnswer = errors.New("did not answer")

// Transport is an http.RoundTripper in front of Next. Set the fields
// before the first request.
type Transport struct {
	Next http.RoundTripper
	// What the hosts are, for messages: "the CA" gives "the CA did not
	// answer: 5 requests in a row to HOST got no answer (last: ...);
	// not asked again before 12:34:56 UTC".
	What  string
	Limit int           // unanswered requests in a row that open it (DefaultLimit)
	Pause time.Duration // how long it then refuses (DefaultPause)
	// Counts tells the requests whose outcome counts (nil: all). A CA
	// that no longer works may still hand out nonces and its directory.
	Counts func(*http.Request) bool
	Now    func() time.Time // the clock (time.Now)

	mu    sync.Mutex
	hosts map[string]*host
}

// host is one server's count.
type host struct {
	unanswered int       // counted requests in a row without an answer
	openUntil  time.Time // zero while closed
	last       error     // the last of them
}

// RoundTrip refuses a request while its host's breaker is open, and
// counts its outcome otherwise.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.admit(req); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	res, err := t.Next.RoundTrip(req)
	if t.Counts == nil || t.Counts(req) {
		// the request's own deadline (http.Client.Timeout, a per-MD
		// timeout) passed: the transport may say only "request canceled"
		silent := err != nil && (Unanswered(err) || errors.Is(req.Context().Err(), context.DeadlineExceeded))
		t.record(req.URL.Host, err, silent)
	}
	return res, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach Next.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.Next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Transport) admit(req *http.Request) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hosts[req.URL.Host]
	if h == nil || h.openUntil.IsZero() || !t.now().Before(h.openUntil) {
		return nil
	}
	return fmt.Errorf("%s %w: %d requests in a row to %s got no answer (last: %v); not asked again before %s",
		t.What, ErrNoAnswer, h.unanswered, req.URL.Host, h.last, h.openUntil.UTC().Format("15:04:05 MST"))
}

// record counts an outcome: an answer (any status) closes the breaker,
// no answer (silent) counts towards opening it, other errors neither.
func (t *Transport) record(name string, err error, silent bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hosts[name]
	if err == nil {
		if h != nil {
			delete(t.hosts, name)
		}
		return
	}
	if !silent {
		return
	}
	if h == nil {
		if t.hosts == nil {
			t.hosts = map[string]*host{}
		}
		h = &host{}
		t.hosts[name] = h
	}
	h.unanswered++
	h.last = err
	limit, pause := t.Limit, t.Pause
	if limit <= 0 {
		limit = DefaultLimit
	}
	if pause <= 0 {
		pause = DefaultPause
	}
	if h.unanswered >= limit {
		h.openUntil = t.now().Add(pause)
	}
}

// Unanswered tells the errors that mean "the server did not answer" from
// those that end a request for other reasons (the run was interrupted, a
// certificate was refused).
func Unanswered(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
