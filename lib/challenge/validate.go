package challenge

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// Token length limits. RFC 8555 §8.1 asks for at least 128 bits of entropy
// in a token, 22 base64url characters; CAs send 43. The upper bound keeps
// file names and argv sane.
const (
	MinTokenLen = 22
	MaxTokenLen = 256
)

// thumbprintLen is the length of a base64url SHA-256 JWK thumbprint.
const thumbprintLen = 43

// ValidateToken checks a challenge token from the CA before it becomes part
// of a path, a URL or argv: base64url characters only (no padding), between
// MinTokenLen and MaxTokenLen long.
func ValidateToken(token string) error {
	if len(token) < MinTokenLen || len(token) > MaxTokenLen {
		return fmt.Errorf("invalid challenge token %.40q: length %d is not between %d and %d", token, len(token), MinTokenLen, MaxTokenLen)
	}
	if i := strings.IndexFunc(token, func(r rune) bool { return !isB64URL(r) }); i >= 0 {
		return fmt.Errorf("invalid challenge token %.40q: character %q is not base64url", token, token[i])
	}
	return nil
}

// ValidateKeyAuth checks a key authorization for token: token "."
// base64url(SHA-256 JWK thumbprint), as x/crypto/acme's
// Client.HTTP01ChallengeResponse returns it.
func ValidateKeyAuth(token, keyAuth string) error {
	tok, thumb, ok := strings.Cut(keyAuth, ".")
	if !ok || tok != token {
		return fmt.Errorf("key authorization does not start with the token and a '.'")
	}
	if len(thumb) != thumbprintLen || strings.IndexFunc(thumb, func(r rune) bool { return !isB64URL(r) }) >= 0 {
		return fmt.Errorf("key authorization does not end in a base64url SHA-256 thumbprint")
	}
	return nil
}

func isB64URL(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// ValidateChallengeDomain checks an authorization identifier before it
// becomes a store path or argv: a valid DNS name, not a wildcard (the CA's
// identifier for "*.x.org" is "x.org").
func ValidateChallengeDomain(dns string) error {
	if md.IsWildcard(dns) {
		return fmt.Errorf("challenge domain %q is a wildcard; use the authorization identifier without \"*.\"", dns)
	}
	if err := md.ValidateDomain(dns); err != nil {
		return err
	}
	if strings.HasSuffix(dns, ".") {
		return fmt.Errorf("challenge domain %q ends in a dot", dns)
	}
	return nil
}

// Validate checks a task. For Setup (full) the token and key authorization
// are required; for Teardown they may be empty but must be valid if given.
func (t Task) Validate(full bool) error {
	switch t.Type {
	case HTTP01, TLSALPN01, DNS01:
	case DNSPersist01:
		if t.Token != "" || t.KeyAuth != "" {
			return fmt.Errorf("%s has no token or key authorization", DNSPersist01)
		}
		return ValidateChallengeDomain(t.Domain)
	case "":
		return fmt.Errorf("challenge task without a type")
	default:
		return fmt.Errorf("%w: %q is not a challenge type mdtools can answer", ErrNotApplicable, t.Type)
	}
	if err := ValidateChallengeDomain(t.Domain); err != nil {
		return err
	}
	if t.Domain != strings.ToLower(t.Domain) {
		return fmt.Errorf("challenge domain %q is not lower case", t.Domain)
	}
	if t.Token != "" || full {
		if err := ValidateToken(t.Token); err != nil {
			return err
		}
	}
	if t.KeyAuth != "" || full {
		if t.Token == "" {
			return fmt.Errorf("key authorization given without its token")
		}
		if err := ValidateKeyAuth(t.Token, t.KeyAuth); err != nil {
			return err
		}
	}
	return nil
}

// DNS01Value is the TXT record value for a key authorization:
// base64url(SHA-256(keyAuth)), the <token> mod_md passes to the dns-01
// command.
func DNS01Value(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
