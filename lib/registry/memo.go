package registry

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/pool"
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

// memoKey is the key of a record as the config made it, before the sync
// completed it: a hash of its exact encoding but for its "source" members
// (its own and its vhosts'), cut out where they are and put back into the
// remembered line on replay (md.SourceSpans; split says so). The sync
// does not read them, so a definition that moved in the config, or a
// config named by another path, is still answered. A line whose sources
// cannot be cut is hashed whole. ok is false when the record cannot be
// remembered (static certificate files are outside the store).
func memoKey(m *memo.Memo, r *md.Record) (key memo.Key, split, ok bool) {
	if m == nil || len(r.CertFiles) > 0 {
		return memo.Key{}, false, false
	}
	srcs := r.Sources()
	err := r.ReadJSON(func(b []byte) {
		h := sha256.New()
		spans, cut := md.SourceSpans(b, srcs)
		if !cut {
			h.Write(b)
			copy(key[:], h.Sum(nil))
			return
		}
		// never the key of a whole line that reads the same: where the
		// sources were cut (offsets in the rest, as encodeCuts writes a
		// SourceLine's Cuts) is part of it
		var n [4]byte
		h.Write([]byte{1})
		removed := 0
		for _, sp := range spans {
			binary.LittleEndian.PutUint32(n[:], uint32(sp[0]-removed))
			h.Write(n[:])
			removed += sp[1] - sp[0]
		}
		prev := 0
		for _, sp := range spans {
			h.Write(b[prev:sp[0]])
			prev = sp[1]
		}
		h.Write(b[prev:])
		copy(key[:], h.Sum(nil))
		split = true
	})
	if err != nil {
		return memo.Key{}, false, false
	}
	return key, split, true
}

// encodeCuts appends the offsets of a SourceLine's cuts, 4 bytes each.
func encodeCuts(b []byte, cuts []int) []byte {
	for _, c := range cuts {
		b = binary.LittleEndian.AppendUint32(b, uint32(c))
	}
	return b
}

// entryLine is the remembered line of e (TailA), cut where TailB says
// (encodeCuts; none: TailA is the whole line); ok is false when it does
// not fit n sources.
func entryLine(e *memo.Entry, n int) (md.SourceLine, bool) {
	l := md.SourceLine{Line: e.TailA}
	if len(e.TailB) == 0 {
		return l, true // uncut: its key held its sources, the line has them
	}
	if len(e.TailB)%4 != 0 || len(e.TailB)/4 != n {
		return md.SourceLine{}, false
	}
	prev := 0
	for i := 0; i < len(e.TailB); i += 4 {
		c := int(binary.LittleEndian.Uint32(e.TailB[i:]))
		if c < prev || c > len(e.TailA) {
			return md.SourceLine{}, false
		}
		l.Cuts = append(l.Cuts, c)
		prev = c
	}
	return l, true
}

// replay returns the record's output line as the sync completed it last
// time, if the memo has it and domains/<md> did not change since.
func replay(m *memo.Memo, key memo.Key, r *md.Record, now time.Time) (md.SourceLine, bool) {
	e, ok := m.Lookup(key, now, memoPaths)
	if !ok || e.Name != r.Name || len(e.TailA) == 0 {
		return md.SourceLine{}, false
	}
	return entryLine(e, len(r.Sources()))
}

// rememberSync stores the output line of r as the sync completed it (cut
// around its sources when the key was, see memoKey), when domains/<md>
// did not change while it was read; it reports whether it did.
func rememberSync(m *memo.Memo, key memo.Key, split bool, r *md.Record, before uint64, decided time.Time) bool {
	after, settled := m.Fingerprint(memoPaths(r.Name), nil)
	if !settled || after != before {
		m.Forget(r.Name)
		return false
	}
	b, err := r.Redacted().MarshalJSON()
	if err != nil {
		return false
	}
	e := &memo.Entry{Name: r.Name, Stat: after, Decided: decided.UnixNano(), Until: decided.Add(memoLife).UnixNano(), TailA: b}
	if split {
		sl, ok := md.CutSources(b, r.Sources())
		if !ok {
			m.Forget(r.Name)
			return false
		}
		e.TailA, e.TailB = sl.Line, encodeCuts(nil, sl.Cuts)
	}
	m.Put(key, e)
	return true
}

// rootPaths are the store root files a sync reads besides domains/.
func rootPaths(string) []memo.Path { return []memo.Path{{Name: store.FileHTTPD}} }

// RootFingerprint is the Fingerprint of the store root files a sync
// reads (httpd.json), for md-parse's run memo; settled as Fingerprint's.
// (Not through the root's listing: at 100,000 MDs that was 70 ms of
// md-parse's time before its first line, for one file.)
func RootFingerprint(m *memo.Memo) (uint64, bool) { return m.FingerprintUnlisted(rootPaths("")) }

// ReplayRun returns the output lines of the MDs a run memo names (Keys
// of an earlier Result, in order), as that sync completed them, when the
// memo still holds every one, domains/<md> of each and the root files
// (root, RootFingerprint) are unchanged, and nothing else keeps Sync from
// answering as it did: then Sync would write nothing and complete every
// record as before. ok is false otherwise. Like Sync, it takes the
// store-wide lock (opts.Wait), so it never reads a store in the middle of
// another sync; opts.Now is the clock of the memo's time window.
// sources[i] is how many sources (md.Record.Sources) the i-th MD has: its
// line is put together with them.
func ReplayRun(ctx context.Context, st *store.Store, m *memo.Memo, names []string, keys []memo.Key, sources []int, root uint64, opts Options) (lines []md.SourceLine, ok bool, err error) {
	lines, err = recall(ctx, st, m, names, keys, sources, root, opts, true)
	return lines, lines != nil, err
}

// Recall is ReplayRun for each MD on its own: lines[i] is the i-th MD's
// line, or none (Line nil) when the memo does not answer for it. lines is
// nil when the root files changed (each MD's answer assumed them).
func Recall(ctx context.Context, st *store.Store, m *memo.Memo, names []string, keys []memo.Key, sources []int, root uint64, opts Options) (lines []md.SourceLine, err error) {
	return recall(ctx, st, m, names, keys, sources, root, opts, false)
}

// recall is ReplayRun (all: every MD must be answered, lines is nil
// otherwise) and Recall.
func recall(ctx context.Context, st *store.Store, m *memo.Memo, names []string, keys []memo.Key, sources []int, root uint64, opts Options, all bool) ([]md.SourceLine, error) {
	unlock, err := st.Lock(ctx, "", opts.Wait)
	if err != nil {
		return nil, fmt.Errorf("syncing MDs into %s: %w", st, err)
	}
	defer unlock()
	if sum, _ := RootFingerprint(m); sum != root || len(names) != len(keys) {
		return nil, nil
	}
	now := opts.now()
	lines := make([]md.SourceLine, len(keys))
	var missed atomic.Bool
	pool.Each(len(keys), runtime.GOMAXPROCS(0), func(i int) {
		if all && missed.Load() {
			return
		}
		e, found := m.Lookup(keys[i], now, memoPaths)
		if found && e.Name == names[i] && len(e.TailA) > 0 {
			n := 0
			if i < len(sources) {
				n = sources[i]
			}
			if lines[i], found = entryLine(e, n); found {
				return
			}
		}
		lines[i] = md.SourceLine{}
		missed.Store(true)
	})
	if all && missed.Load() {
		return nil, nil
	}
	return lines, nil
}
