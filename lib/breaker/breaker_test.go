package breaker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scripted answers each request with the next outcome: nil is an answer
// (200), an error no answer.
type scripted struct {
	outcomes []error
	seen     int
}

func (s *scripted) RoundTrip(*http.Request) (*http.Response, error) {
	err := s.outcomes[s.seen]
	s.seen++
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

var errSilence = fmt.Errorf("read: %w", context.DeadlineExceeded)

func TestBreaker(t *testing.T) {
	refused := fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)
	badCert := x509.UnknownAuthorityError{}
	for _, tc := range []struct {
		name string
		// steps: method, outcome of the transport (if it is reached),
		// minutes to move the clock first, and whether the breaker
		// should let the request through
		steps []step
	}{
		{"five unanswered POSTs open it", []step{
			post(errSilence), post(errSilence), post(refused), post(errSilence), post(errSilence),
			refusedPost(), refusedGet(),
		}},
		{"an answer in between starts the count again", []step{
			post(errSilence), post(errSilence), post(errSilence), post(errSilence), post(nil),
			post(errSilence), post(errSilence), post(errSilence), post(errSilence), post(errSilence), refusedPost(),
		}},
		{"GETs and HEADs do not count", []step{
			post(errSilence), post(errSilence), get(nil), post(errSilence), get(errSilence), post(errSilence), post(errSilence), refusedPost(),
		}},
		{"an interrupted run or a refused certificate is no errSilence", []step{
			post(errSilence), post(context.Canceled), post(badCert), post(errSilence), post(errSilence), post(errSilence), post(nil),
		}},
		{"after the pause it asks again and closes on an answer", []step{
			post(errSilence), post(errSilence), post(errSilence), post(errSilence), post(errSilence), refusedPost(),
			later(post(nil)), post(nil), post(errSilence), post(nil),
		}},
		{"after the pause one more errSilence opens it again", []step{
			post(errSilence), post(errSilence), post(errSilence), post(errSilence), post(errSilence),
			later(post(errSilence)), refusedPost(), refusedGet(),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
			var outcomes []error
			for _, s := range tc.steps {
				if s.through {
					outcomes = append(outcomes, s.outcome)
				}
			}
			tr := &scripted{outcomes: outcomes}
			b := &Transport{Next: tr, What: "the CA", Now: func() time.Time { return now },
				Counts: func(r *http.Request) bool { return r.Method == http.MethodPost }}
			u, _ := url.Parse("https://ca.example/acme/new-order")
			for i, s := range tc.steps {
				now = now.Add(s.wait)
				before := tr.seen
				_, err := b.RoundTrip(&http.Request{Method: s.method, URL: u, Header: http.Header{}})
				through := tr.seen > before
				if through != s.through {
					t.Fatalf("step %d (%s): reached the CA: %v, want %v (err %v)", i, s.method, through, s.through, err)
				}
				if !through && (!errors.Is(err, ErrNoAnswer) || !errorMentions(err, "the CA did not answer: ", "requests in a row to ca.example got no answer", "not asked again before")) {
					t.Fatalf("step %d: refused with %v", i, err)
				}
			}
		})
	}
}

type step struct {
	method  string
	outcome error
	wait    time.Duration
	through bool
}

func post(outcome error) step { return step{method: http.MethodPost, outcome: outcome, through: true} }
func get(outcome error) step  { return step{method: http.MethodGet, outcome: outcome, through: true} }
func refusedPost() step       { return step{method: http.MethodPost} }
func refusedGet() step        { return step{method: http.MethodGet} }
func later(s step) step       { s.wait = DefaultPause; return s }

func errorMentions(err error, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}

// TestBreakerPerHost: one host that stopped answering does not stop the
// requests to another (md-staple's one client asks every responder).
func TestBreakerPerHost(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var outcomes []error
	for range DefaultLimit {
		outcomes = append(outcomes, errSilence)
	}
	outcomes = append(outcomes, nil)
	tr := &scripted{outcomes: outcomes}
	b := &Transport{Next: tr, What: "the server", Now: func() time.Time { return now }}
	get := func(host string) error {
		u, _ := url.Parse("http://" + host + "/ocsp")
		_, err := b.RoundTrip(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
		return err
	}
	for range DefaultLimit {
		get("hung.example")
	}
	if err := get("hung.example"); !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "the server did not answer") {
		t.Fatalf("the hung host: %v", err)
	}
	if err := get("fine.example"); err != nil || tr.seen != DefaultLimit+1 {
		t.Fatalf("another host: %v, %d requests sent", err, tr.seen)
	}
}

// TestBreakerRequestDeadline: a request whose own deadline passed counts
// as unanswered whatever the transport calls its error ("net/http:
// request canceled"); one the run cancelled does not.
func TestBreakerRequestDeadline(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	canceled := errors.New("net/http: request canceled")
	var outcomes []error
	for range DefaultLimit + 1 {
		outcomes = append(outcomes, canceled)
	}
	tr := &scripted{outcomes: outcomes}
	b := &Transport{Next: tr, What: "the server", Now: func() time.Time { return now }}
	u, _ := url.Parse("http://ocsp.example/")
	send := func(ctx context.Context) error {
		_, err := b.RoundTrip((&http.Request{Method: http.MethodPost, URL: u, Header: http.Header{}}).WithContext(ctx))
		return err
	}
	interrupted, cancel := context.WithCancel(t.Context())
	cancel()
	if err := send(interrupted); errors.Is(err, ErrNoAnswer) || tr.seen != 1 {
		t.Fatalf("an interrupted request: %v", err)
	}
	late, cancelLate := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancelLate()
	for range DefaultLimit {
		send(late)
	}
	if err := send(late); !errors.Is(err, ErrNoAnswer) || tr.seen != DefaultLimit+1 {
		t.Fatalf("after %d requests past their deadline: %v, %d sent", DefaultLimit, err, tr.seen)
	}
}
