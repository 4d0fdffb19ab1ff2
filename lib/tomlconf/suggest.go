package tomlconf

import (
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// nearest returns the candidate a misspelt key most likely meant: the one
// at the smallest edit distance, if that distance is small enough for a
// typo (one edit in a short key, up to three in a long one). Case and '_'
// for '-' are not counted. "" when nothing is close.
func nearest(k string, candidates []string) string {
	k = strings.ToLower(strings.ReplaceAll(k, "_", "-"))
	limit := 1
	switch {
	case len(k) > 10:
		limit = 3
	case len(k) > 4:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := md.EditDistance(k, c, bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
