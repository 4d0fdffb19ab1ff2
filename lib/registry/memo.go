package registry

import (
	"encoding/json"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/store"
)

// memoStage names md-parse's memo (memo-parse.bin).
const memoStage = "parse"

// memoLife bounds how long a remembered sync answer is used without a
// look at the store; nothing in it changes by time (expiry alone does not
// change an MD's state), so this is only a safety net.
const memoLife = 7 * 24 * time.Hour

// OpenMemo opens md-parse's memo in the store directory dir (see
// Options.Memo); version names the mdtools build.
func OpenMemo(dir, version string) (*memo.Memo, error) { return memo.Open(dir, memoStage, version) }

// memoPaths: domains/<md> holds what planRecord reads (md.json, the live
// certificates and keys).
func memoPaths(name string) []memo.Path {
	return []memo.Path{{Group: string(store.GroupDomains), Name: name}}
}

// synced is what planRecord took from the store for an MD that needed no
// write.
type synced struct {
	State    int      `json:"state"`
	Descr    string   `json:"descr,omitempty"`
	Contacts []string `json:"contacts,omitempty"`
	URL      string   `json:"url,omitempty"`
	Account  string   `json:"account,omitempty"`
}

// memoKey is the key of a record as the config made it, before the sync
// completed it; ok is false when it cannot be remembered (static
// certificate files are outside the store).
func memoKey(m *memo.Memo, r *md.Record) (memo.Key, bool) {
	if m == nil || len(r.CertFiles) > 0 {
		return memo.Key{}, false
	}
	b, err := r.MarshalJSON()
	if err != nil {
		return memo.Key{}, false
	}
	return memo.KeyOf(b), true
}

// replay completes r from the memo; false when there is nothing usable.
func replay(m *memo.Memo, key memo.Key, r *md.Record, now time.Time) bool {
	e, ok := m.Lookup(key, now, memoPaths)
	if !ok || e.Name != r.Name {
		return false
	}
	var s synced
	if json.Unmarshal(e.TailA, &s) != nil {
		return false
	}
	if err := complete(r); err != nil {
		return false
	}
	r.State, r.StateDescr = s.State, s.Descr
	if len(r.Contacts) == 0 {
		r.Contacts = s.Contacts
	}
	if r.CA.URL == "" {
		r.CA.URL = s.URL
	}
	if r.CA.Account == "" {
		r.CA.Account = s.Account
	}
	return true
}

// rememberSync stores what planRecord took from the store for r, when
// domains/<md> did not change while it was read.
func rememberSync(m *memo.Memo, key memo.Key, r *md.Record, before uint64, decided time.Time) {
	after, settled := m.Fingerprint(memoPaths(r.Name), nil)
	if !settled || after != before {
		m.Forget(r.Name)
		return
	}
	b, err := json.Marshal(synced{State: r.State, Descr: r.StateDescr, Contacts: r.Contacts, URL: r.CA.URL, Account: r.CA.Account})
	if err != nil {
		return
	}
	m.Put(key, &memo.Entry{Name: r.Name, Stat: after, Decided: decided.UnixNano(), Until: decided.Add(memoLife).UnixNano(), TailA: b})
}
