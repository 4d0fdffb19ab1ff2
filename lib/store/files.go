package store

import "strings"

// ARIFile names the store-root file in which md-order caches the CA's ARI
// answers for an MD until their Retry-After ("ari-<md>.json", with a
// wildcard's "*" as "_"); md-status reads it for --plan.
func ARIFile(md string) string {
	return "ari-" + strings.ReplaceAll(md, "*", "_") + ".json"
}

// RevokedFile names the store-root file in which "md-order revoke" lists
// the certificates of an MD it revoked ("revoked-<md>.json", with a
// wildcard's "*" as "_"): md-order renews an MD whose live certificate is
// listed, md-status shows why.
func RevokedFile(md string) string {
	return "revoked-" + strings.ReplaceAll(md, "*", "_") + ".json"
}
