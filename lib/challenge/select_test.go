package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// failingResponder fails setups of the listed types (fault injection).
type failingResponder struct {
	fail  map[string]error
	calls []string
}

func (f *failingResponder) Setup(_ context.Context, _ *md.Record, t Task) error {
	f.calls = append(f.calls, t.Type)
	return f.fail[t.Type]
}
func (f *failingResponder) Teardown(context.Context, *md.Record, Task) error { return nil }

func keyAuthFor(token string) (string, error) { return token + "." + testThumb, nil }

func TestRespond(t *testing.T) {
	tok := testToken
	offers := []Offer{{HTTP01, tok}, {DNS01, tok}, {TLSALPN01, tok}}
	boom := errors.New("boom")
	notHere := fmt.Errorf("%w: no acme-tls/1", ErrNotApplicable)
	tests := []struct {
		name       string
		cands      []string
		offers     []Offer
		fail       map[string]error
		wantType   string
		wantIndex  int
		wantCalls  string
		wantProb   string
		wantDetail string
	}{
		{name: "first candidate offered wins", cands: []string{TLSALPN01, HTTP01}, offers: offers, wantType: TLSALPN01, wantIndex: 2, wantCalls: "tls-alpn-01"},
		{name: "falls through on failure", cands: []string{TLSALPN01, HTTP01}, offers: offers, fail: map[string]error{TLSALPN01: boom}, wantType: HTTP01, wantIndex: 0, wantCalls: "tls-alpn-01 http-01"},
		{name: "case-insensitive match", cands: []string{"HTTP-01"}, offers: offers, wantType: HTTP01, wantIndex: 0, wantCalls: "http-01"},
		{name: "no overlap", cands: []string{"invalid-01", "invalid-02"}, offers: offers, wantCalls: "",
			wantProb:   ProblemMismatch,
			wantDetail: "None of offered challenge types for domain x.test are supported. The server offered 'http-01 dns-01 tls-alpn-01' and available are: 'invalid-01 invalid-02'."},
		{name: "wildcard: only dns offered", cands: []string{TLSALPN01, HTTP01}, offers: []Offer{{DNS01, tok}}, wantProb: ProblemMismatch},
		{name: "all not applicable is a mismatch", cands: []string{TLSALPN01}, offers: offers, fail: map[string]error{TLSALPN01: notHere}, wantCalls: "tls-alpn-01", wantProb: ProblemMismatch},
		{name: "all failed", cands: []string{HTTP01, DNS01}, offers: offers, fail: map[string]error{HTTP01: boom, DNS01: boom}, wantCalls: "http-01 dns-01",
			wantProb: ProblemSetupFailure, wantDetail: "None of the offered challenge types 'http-01 dns-01 tls-alpn-01' for domain x.test could be setup successfully. boom. boom."},
		{name: "bad token from the CA", cands: []string{HTTP01}, offers: []Offer{{HTTP01, "../x"}}, wantCalls: "", wantProb: ProblemSetupFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &failingResponder{fail: tc.fail}
			task, i, err := Respond(context.Background(), r, testRecord("x.test"), "*.x.test", tc.cands, tc.offers, keyAuthFor)
			if got := strings.Join(r.calls, " "); got != tc.wantCalls {
				t.Errorf("setups tried %q; want %q", got, tc.wantCalls)
			}
			if tc.wantProb != "" {
				var se *md.StageError
				if !errors.As(err, &se) || se.Problem != tc.wantProb {
					t.Fatalf("got %v; want problem %s", err, tc.wantProb)
				}
				if tc.wantDetail != "" && se.Detail != tc.wantDetail {
					t.Errorf("detail %q; want %q", se.Detail, tc.wantDetail)
				}
				return
			}
			if err != nil || task.Type != tc.wantType || i != tc.wantIndex {
				t.Fatalf("got %+v %d %v; want %s at %d", task, i, err, tc.wantType, tc.wantIndex)
			}
			if task.Domain != "x.test" || task.KeyAuth != tok+"."+testThumb {
				t.Errorf("task %+v", task)
			}
		})
	}
}
