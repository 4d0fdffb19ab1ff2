package renew

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// Problem types of CheckChain, as md-order puts them in a record's error.
const (
	ProblemNamesMismatch     = "urn:org:mdtools:cert-names-mismatch"
	ProblemMustStapleMissing = "urn:org:mdtools:cert-must-staple-missing"
	ProblemChainMissing      = "urn:org:mdtools:cert-chain-missing"
	ProblemChainInvalid      = "urn:org:mdtools:cert-chain-invalid"
	ProblemExpired           = "urn:org:mdtools:cert-expired"
)

// ChainError is why CheckChain refuses a chain. Detail completes a
// sentence whose subject is the certificate ("the certificate from the CA
// ...", "certificate(rsa) ...").
type ChainError struct {
	Problem string // one of the Problem* types
	Detail  string
}

func (e *ChainError) Error() string { return "certificate " + e.Detail }

// CheckChain is the one check of a certificate chain (leaf first) and its
// private key, made by md-order before it stages a new certificate and by
// md-install before it makes a staged set live: the key fits the leaf, the
// leaf covers every domain, must-staple is present when asked for, the
// issuer chain is there and each certificate is signed by the next one,
// and the leaf has not expired.
//
// A leaf without its issuer is refused, as mod_md refuses it when it
// fetches a new certificate (md_acme_drv.c get_chain: "no link header 'up'
// for new certificate, unable to retrieve chain"): no CA signs server
// certificates with its root, so such a chain cannot be served.
func CheckChain(chain []*x509.Certificate, key crypto.Signer, domains []string, mustStaple bool, now time.Time) *ChainError {
	if len(chain) == 0 {
		return &ChainError{ProblemChainMissing, "is missing"}
	}
	leaf := chain[0]
	if !KeyFits(leaf, key) {
		return &ChainError{ProblemKeyMismatch, "does not match the private key it was ordered for"}
	}
	for _, d := range domains {
		if !Covers(leaf, []string{d}) {
			return &ChainError{ProblemNamesMismatch, fmt.Sprintf("does not cover %s (it is for %s)", d, strings.Join(AltNames(leaf), ", "))}
		}
	}
	if mustStaple && !HasMustStaple(leaf) {
		return &ChainError{ProblemMustStapleMissing, "lacks the requested must-staple extension"}
	}
	if len(chain) < 2 {
		return &ChainError{ProblemChainMissing, "comes without its issuer chain"}
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return &ChainError{ProblemChainInvalid, fmt.Sprintf(
				"has a broken chain: certificate %d (%s) is not signed by the next one (%s): %v", i+1, chain[i].Subject, chain[i+1].Subject, err)}
		}
	}
	if now.After(leaf.NotAfter) {
		return &ChainError{ProblemExpired, "expired on " + leaf.NotAfter.UTC().Format(time.RFC3339)}
	}
	return nil
}
