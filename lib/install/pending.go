package install

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/mdtools/mdtools/lib/store"
)

// filePending lists the MDs whose new certificate is live in the store but
// not yet confirmed served: the reload failed, or the server was still
// serving another certificate. The next run reloads and checks them again
// even when nothing new is staged.
const filePending = "md-install-pending.json"

type pendingFile struct {
	Reload []string `json:"reload"`
}

func readPending(ctx context.Context, st *store.Store) map[string]bool {
	var p pendingFile
	out := map[string]bool{}
	if err := st.LoadJSON(ctx, store.GroupRoot, "", filePending, &p); err != nil {
		return out
	}
	for _, n := range p.Reload {
		out[n] = true
	}
	return out
}

// updatePending adds and removes names in the pending list, under the
// store lock so that concurrent runs do not lose each other's entries.
func updatePending(ctx context.Context, st *store.Store, add, remove map[string]bool) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	unlock, err := st.Lock(ctx, "", 0)
	if err != nil {
		return err
	}
	defer unlock()
	cur := readPending(ctx, st)
	changed := false
	for n := range remove {
		if cur[n] {
			delete(cur, n)
			changed = true
		}
	}
	for n := range add {
		if !cur[n] {
			cur[n] = true
			changed = true
		}
	}
	if !changed {
		return nil
	}
	p := pendingFile{Reload: []string{}}
	for n := range cur {
		p.Reload = append(p.Reload, n)
	}
	sort.Strings(p.Reload)
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return st.Write(ctx, store.GroupRoot, "", filePending, append(data, '\n'))
}
