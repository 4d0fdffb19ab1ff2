package store

import "strings"

// ARIFile names the store-root file in which md-order caches the CA's ARI
// answers for an MD until their Retry-After ("ari-<md>.json", with a
// wildcard's "*" as "_"); md-status reads it for --plan.
func ARIFile(md string) string {
	return "ari-" + strings.ReplaceAll(md, "*", "_") + ".json"
}
