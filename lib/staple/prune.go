package staple

import (
	"context"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/store"
)

// prune removes, after MDStaplingKeepResponse, the stored responses and
// CRL verdicts of certificates this set no longer holds, and cached CRLs
// not refreshed for as long. mod_md removes every ocsp*.json older than
// the keep time at startup; the files of certificates still installed are
// kept here instead, so that a responder outage longer than the keep time
// never loses the last good response (it is replaced when a new one
// arrives).
func (r *Runner) prune(ctx context.Context, s *Set, now time.Time) {
	if s.keep <= 0 {
		return
	}
	files, err := r.Store.ListFiles(ctx, store.GroupOCSP, s.Group)
	if err != nil {
		return
	}
	current := make(map[string]bool, len(s.Targets))
	for _, t := range s.Targets {
		if t.ID != "" {
			current[t.ID] = true
		}
	}
	cutoff := now.Add(-s.keep)
	for _, f := range files {
		var id string
		switch {
		case strings.HasPrefix(f, crlStatusPrefix) && strings.HasSuffix(f, ".json"):
			id = strings.TrimSuffix(strings.TrimPrefix(f, crlStatusPrefix), ".json")
		case strings.HasPrefix(f, ocspPrefix) && strings.HasSuffix(f, ".json"):
			id = strings.TrimSuffix(strings.TrimPrefix(f, ocspPrefix), ".json")
		case strings.HasPrefix(f, crlCachePrefix) && strings.HasSuffix(f, ".der"):
		default:
			continue
		}
		if id != "" && current[id] {
			continue
		}
		mt, err := r.Store.ModTime(ctx, store.GroupOCSP, s.Group, f)
		if err != nil || !mt.Before(cutoff) {
			continue
		}
		if err := r.Store.Remove(ctx, store.GroupOCSP, s.Group, f); err != nil {
			r.logf("warn", "%s: removing old %s: %v", s.Group, f, err)
			continue
		}
		r.logf("info", "%s: removed %s, unused for longer than %s", s.Group, f, s.keep)
	}
}
