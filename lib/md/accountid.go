package md

import (
	"fmt"
	"net/url"
	"strings"
)

// MaxAccountIDs is how many accounts one CA may have in a store
// (accounts/ACME-<sname>-0000 to -0999).
const MaxAccountIDs = 1000

// AccountIDPrefix is "ACME-<sname>-" for a CA URL, mod_md's account id
// prefix (md_acme_create): sname is the CA's host name, or its last 16
// characters when longer. Characters a store name cannot hold (an IPv6
// literal's ':') become '_'.
func AccountIDPrefix(caURL string) string {
	host := "unknown"
	if u, err := url.Parse(caURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	if len(host) > 16 {
		host = host[len(host)-16:]
	}
	return "ACME-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, host) + "-"
}

// FreeAccountID is the first account id for caURL that taken says is
// free: ACME-<sname>-0000, -0001, ... as mod_md numbers them.
func FreeAccountID(caURL string, taken func(id string) bool) (string, error) {
	prefix := AccountIDPrefix(caURL)
	for n := 0; n < MaxAccountIDs; n++ {
		if id := fmt.Sprintf("%s%04d", prefix, n); !taken(id) {
			return id, nil
		}
	}
	return "", fmt.Errorf("accounts/%s0000 to -%04d all exist", prefix, MaxAccountIDs-1)
}
