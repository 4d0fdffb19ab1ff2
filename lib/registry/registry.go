// Package registry keeps the MD definitions in the store in step with the
// configuration, as mod_md does at startup: it writes domains/<md>/md.json
// when the definition changed, keeps what the store knows and the config
// does not (ca.account, ...), and detects renamed MDs so that their
// directories move instead of being ordered again (spec §2.2, §2.6).
package registry

import (
	"context"
	"errors"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Options steer a sync.
type Options struct {
	DryRun bool // compute, write nothing
}

// Result says what a sync did (or would do).
type Result struct {
	Written   []string          // MD names whose md.json was (re)written
	Unchanged []string          // MD names already in step
	Renamed   map[string]string // old name -> new name
}

// Sync brings the store's definitions in step with recs, and fills recs
// with the stored values the config lacks. It takes the store-wide lock.
func Sync(ctx context.Context, st *store.Store, recs []*md.Record, opts Options) (*Result, error) {
	return nil, errors.New("registry: not implemented yet")
}
