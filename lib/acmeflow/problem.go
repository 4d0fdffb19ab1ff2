package acmeflow

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"golang.org/x/crypto/acme"
)

// Problems of mdtools' own, in mod_md's words.
const (
	ProblemChallengeMismatch     = "challenge-mismatch"
	ProblemChallengeSetupFailure = "challenge-setup-failure"
	ProblemEABInvalid            = "apache:eab-hmac-invalid"
	// ProblemCertInvalid: the CA's certificate response could not be
	// read as a certificate chain.
	ProblemCertInvalid = "urn:org:mdtools:cert-invalid"
	// ProblemCAResponseInvalid: a CA answer (directory, order, ARI) that
	// is not the JSON RFC 8555 describes.
	ProblemCAResponseInvalid = "urn:org:mdtools:ca-response-invalid"
	// ProblemInvalidProfile is the ACME profiles draft's error for a
	// profile the CA does not offer or that cannot issue the order.
	ProblemInvalidProfile = "urn:ietf:params:acme:error:invalidProfile"
	// ProblemAlreadyReplaced is RFC 9773's answer to an order whose
	// "replaces" names a certificate another order already replaced.
	ProblemAlreadyReplaced = "urn:ietf:params:acme:error:alreadyReplaced"
)

// isProblem reports whether err is an ACME problem of type typ.
func isProblem(err error, typ string) bool {
	var ae *acme.Error
	return errors.As(err, &ae) && ae.ProblemType == typ
}

// Problem is an error with a problem type of our own (not from the CA).
type Problem struct {
	Type   string
	Detail string
}

func (p *Problem) Error() string { return p.Detail }

// StageError turns an error into the record's error object: an ACME
// problem keeps its type, detail, subproblems and Retry-After.
func StageError(err error, now time.Time) *md.StageError {
	se := &md.StageError{Stage: "order", Detail: err.Error()}
	var ae *acme.Error
	var p *Problem
	var mse *md.StageError
	switch {
	case errors.As(err, &ae):
		se.Problem = ae.ProblemType
		se.Detail = ae.Detail
		if se.Detail == "" {
			se.Detail = err.Error()
		}
		for _, sp := range ae.Subproblems {
			s := md.Subproblem{Type: sp.Type, Detail: sp.Detail}
			if sp.Identifier != nil {
				s.Identifier = &md.Identifier{Type: sp.Identifier.Type, Value: sp.Identifier.Value}
			}
			se.Subproblems = append(se.Subproblems, s)
		}
		if ae.Header != nil {
			if d := parseRetryAfter(ae.Header.Get("Retry-After"), now); d > 0 {
				se.RetryAfter = md.NewTime(now.Add(d))
			}
		}
		if se.RetryAfter.IsZero() && ae.StatusCode == http.StatusTooManyRequests && se.Problem == "" {
			se.Problem = "urn:ietf:params:acme:error:rateLimited"
		}
	case errors.As(err, &p):
		se.Problem, se.Detail = p.Type, p.Detail
	case errors.As(err, &mse):
		se.Problem, se.Detail, se.Subproblems = mse.Problem, mse.Detail, mse.Subproblems
	case isJSONError(err):
		se.Problem = ProblemCAResponseInvalid
	}
	return se
}

// isJSONError reports a CA answer that did not decode: an operator sees
// a named problem, not an empty one.
func isJSONError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ)
}
