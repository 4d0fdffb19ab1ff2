package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/store"
)

// StoreRecords builds one record per MD in the store (domains/ and
// staging/), for md-install --all: the MD is domains/<md>/md.json, or the
// staged md.json for an MD not yet live. An unreadable md.json gives a
// record carrying the error.
func StoreRecords(ctx context.Context, st *store.Store) ([]*md.Record, error) {
	live, err := st.List(ctx, store.GroupDomains)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	staged, err := st.List(ctx, store.GroupStaging)
	if err != nil {
		return nil, fmt.Errorf("listing staging: %w", err)
	}
	isLive := make(map[string]bool, len(live))
	names := append([]string{}, live...)
	for _, n := range live {
		isLive[n] = true
	}
	for _, n := range staged {
		if !isLive[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	recs := make([]*md.Record, len(names))
	pool.Each(len(names), max(2, runtime.GOMAXPROCS(0)), func(i int) {
		recs[i] = storeRecord(ctx, st, names[i], isLive[names[i]])
	})
	out := recs[:0]
	for _, r := range recs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func storeRecord(ctx context.Context, st *store.Store, name string, live bool) *md.Record {
	g := store.GroupStaging
	if live {
		g = store.GroupDomains
	}
	m, err := st.LoadMD(ctx, g, name)
	if errors.Is(err, fs.ErrNotExist) {
		if !live {
			return nil // a staging dir without md.json: md-order at work
		}
		g = store.GroupStaging
		if m, err = st.LoadMD(ctx, g, name); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if err == nil && m.Name != name {
		err = fmt.Errorf("%s/%s/md.json names %q", g, name, m.Name)
	}
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		return &md.Record{MD: md.MD{Name: name, Domains: []string{name}},
			Error: &md.StageError{Stage: "install", Problem: ProblemStore, Detail: err.Error()}}
	}
	return &md.Record{MD: *m}
}
