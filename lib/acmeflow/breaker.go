package acmeflow

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

// A CA that stops answering must not hold a run for hours: md-order over
// 10,000 MDs whose CA hangs would wait out the response timeout for every
// one of them (a minute each, 16 at a time: over ten hours; seen with a
// Pebble whose store deadlocked under load). breaker counts the CA's
// requests that got no answer (timeouts, refused or reset connections);
// after unansweredLimit ACME requests (POSTs: nonces and the directory
// can still be served by a CA that no longer works) in a row went
// unanswered, every request to that CA fails at once for breakerPause,
// then requests go out again until a POST shows whether it answers. Each
// MD still fails and is recorded (job log, backoff, exit 1) as it would
// after its own timeout.
const (
	unansweredLimit = 5
	breakerPause    = time.Minute
)

// breaker is an http.RoundTripper in front of one CA's transport.
type breaker struct {
	next  http.RoundTripper
	limit int
	pause time.Duration
	now   func() time.Time

	mu         sync.Mutex
	unanswered int       // POSTs in a row without an answer
	openUntil  time.Time // while closed: zero
	last       error     // the last of them
}

func newBreaker(next http.RoundTripper, now func() time.Time) *breaker {
	return &breaker{next: next, limit: unansweredLimit, pause: breakerPause, now: now}
}

// ErrCANotAnswering is the error of requests a breaker refused.
var ErrCANotAnswering = errors.New("the CA did not answer")

func (b *breaker) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := b.admit(req); err != nil {
		return nil, err
	}
	res, err := b.next.RoundTrip(req)
	if req.Method == http.MethodPost {
		b.record(err)
	}
	return res, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (b *breaker) CloseIdleConnections() {
	if c, ok := b.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// admit refuses a request while the breaker is open.
func (b *breaker) admit(req *http.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openUntil.IsZero() || !b.now().Before(b.openUntil) {
		return nil
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return fmt.Errorf("%w: %d requests in a row to %s got no answer (last: %v); not asked again before %s",
		ErrCANotAnswering, b.unanswered, req.URL.Host, b.last, b.openUntil.UTC().Format("15:04:05 MST"))
}

// record counts a POST's outcome: an answer (any status) closes the
// breaker, no answer counts towards opening it.
func (b *breaker) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.unanswered, b.openUntil, b.last = 0, time.Time{}, nil
		return
	}
	if !unanswered(err) {
		return
	}
	b.unanswered++
	b.last = err
	if b.unanswered >= b.limit {
		b.openUntil = b.now().Add(b.pause)
	}
}

// unanswered tells errors that mean "the CA did not answer" from those
// that end a request for other reasons (the run was interrupted, a TLS
// certificate was refused).
func unanswered(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
