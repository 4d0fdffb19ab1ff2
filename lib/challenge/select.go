package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// Offer is one challenge a CA offered in an authorization.
type Offer struct {
	Type  string
	Token string
}

// implemented reports whether this package answers a challenge type, and
// its canonical name.
func implemented(typ string) (string, bool) {
	for _, t := range []string{HTTP01, TLSALPN01, DNS01, DNSPersist01} {
		if strings.EqualFold(t, typ) {
			return t, true
		}
	}
	return "", false
}

// Respond sets up one challenge of an authorization as mod_md does
// (md_acme_authz_respond): the candidate types are tried in order, each one
// the CA offered is set up, and the first setup that succeeds wins. It
// returns the task set up and the index of its offer (POST that challenge
// to the CA next). keyAuth computes a token's key authorization (x/crypto's
// acme.Client.HTTP01ChallengeResponse does, for every type).
//
// Failures are *md.StageError: challenge-mismatch when no offered type is a
// usable candidate (or every setup said ErrNotApplicable),
// challenge-setup-failure when setups were tried and failed.
func Respond(ctx context.Context, r Responder, rec *md.Record, domain string, candidates []string, offered []Offer,
	keyAuth func(token string) (string, error)) (Task, int, error) {
	domain = strings.ToLower(strings.TrimPrefix(domain, "*."))
	var errs []error
	tried := false
	for _, cand := range candidates {
		for i, o := range offered {
			if !strings.EqualFold(cand, o.Type) {
				continue
			}
			typ, ok := implemented(o.Type)
			if !ok || md.IsIP(domain) && !ipCapable(typ) {
				continue
			}
			t := Task{Type: typ, Domain: domain}
			if typ != DNSPersist01 { // dns-persist-01 has no token (the record names the account)
				if err := ValidateToken(o.Token); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", typ, err))
					tried = true
					continue
				}
				ka, err := keyAuth(o.Token)
				if err != nil {
					return Task{}, -1, fmt.Errorf("computing key authorization: %w", err)
				}
				t.Token, t.KeyAuth = o.Token, ka
			}
			err := r.Setup(ctx, rec, t)
			if err == nil {
				return t, i, nil
			}
			if ctx.Err() != nil {
				return Task{}, -1, err
			}
			errs = append(errs, err)
			if !errors.Is(err, ErrNotApplicable) {
				tried = true
			}
			break
		}
	}
	types := make([]string, len(offered))
	for i, o := range offered {
		types[i] = o.Type
	}
	if !tried {
		return Task{}, -1, MismatchError(domain, types, candidates)
	}
	return Task{}, -1, SetupFailureError(domain, types, errs)
}

// MismatchError is mod_md's challenge-mismatch problem for a domain.
func MismatchError(domain string, offered, candidates []string) *md.StageError {
	return &md.StageError{Problem: ProblemMismatch, Detail: fmt.Sprintf(
		"None of offered challenge types for domain %s are supported. The server offered '%s' and available are: '%s'.",
		domain, strings.Join(offered, " "), strings.Join(candidates, " "))}
}

// SetupFailureError is mod_md's challenge-setup-failure problem for a
// domain; the setup errors are appended to the detail.
func SetupFailureError(domain string, offered []string, errs []error) *md.StageError {
	detail := fmt.Sprintf("None of the offered challenge types '%s' for domain %s could be setup successfully.",
		strings.Join(offered, " "), domain)
	for _, e := range errs {
		detail += " " + e.Error() + "."
	}
	return &md.StageError{Problem: ProblemSetupFailure, Detail: detail}
}
