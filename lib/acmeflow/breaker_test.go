package acmeflow

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
			b := newBreaker(tr, func() time.Time { return now })
			u, _ := url.Parse("https://ca.example/acme/new-order")
			for i, s := range tc.steps {
				now = now.Add(s.wait)
				before := tr.seen
				_, err := b.RoundTrip(&http.Request{Method: s.method, URL: u, Header: http.Header{}})
				through := tr.seen > before
				if through != s.through {
					t.Fatalf("step %d (%s): reached the CA: %v, want %v (err %v)", i, s.method, through, s.through, err)
				}
				if !through && (!errors.Is(err, ErrCANotAnswering) || !errorMentions(err, "requests in a row to ca.example got no answer", "not asked again before")) {
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
func later(s step) step       { s.wait = breakerPause; return s }

func errorMentions(err error, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
