package store

import "strings"

// rootFileMD is an MD name as part of a store-root file name: a
// wildcard's "*" and an IPv6 address's ":" become "_" (store file names
// allow neither). No two MD names map alike: DNS names have no "_", a
// wildcard keeps its dots, an IPv6 address has none.
var rootFileMD = strings.NewReplacer("*", "_", ":", "_")

// ARIFile names the store-root file in which md-order caches the CA's ARI
// answers for an MD until their Retry-After ("ari-<md>.json"); md-status
// reads it for --plan.
func ARIFile(md string) string {
	return "ari-" + rootFileMD.Replace(md) + ".json"
}

// RevokedFile names the store-root file in which "md-order revoke" lists
// the certificates of an MD it revoked ("revoked-<md>.json"): md-order
// renews an MD whose live certificate is listed, md-status shows why.
func RevokedFile(md string) string {
	return "revoked-" + rootFileMD.Replace(md) + ".json"
}
