package install

import (
	"path/filepath"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/store"
)

// MemoPaths are the store paths md-install's answer for an MD depends on
// (see lib/memo): the live set, a staged set, an interrupted activation in
// tmp/, and the MDs whose reload is still unconfirmed.
func MemoPaths(name string) []memo.Path {
	return []memo.Path{
		{Group: string(store.GroupDomains), Name: name},
		{Group: string(store.GroupStaging), Name: name},
		{Group: string(store.GroupTmp), Name: name},
		{Name: filePending},
	}
}

// MemoExtra are the paths outside the store the answer depends on: the
// deployed certificates md-install compares with the live ones (through
// the deploy directory's link to the current set: a new set gives them
// other inodes).
func MemoExtra(rec *md.Record) []string {
	d := deployOf(rec)
	if d == nil {
		return nil
	}
	dir := deployPath(d, rec.Name)
	var out []string
	for _, s := range rec.PrivKey.Effective() {
		out = append(out, filepath.Join(dir, s.FileName("cert")))
	}
	return out
}

// Notes collects for md-install's memo until when each record's answer
// holds ("nothing to do" with live certificates only): set Options.Notes
// and give Notes.Until to the stage.
type Notes = memo.Notes[*md.Record]

// noteUntil notes, for an item with nothing to do, the first moment an
// answer could change by time alone: the start of a live certificate's
// warn window (the "expiring" warning) or its end.
func noteUntil(n *Notes, it *item, now time.Time) {
	if n == nil || it.action != "none" || it.err != nil || !it.liveOK || len(it.live) == 0 ||
		it.changed || it.pending || it.confirmed || it.unconfirmed || it.locked {
		return
	}
	var until time.Time
	window := it.rec.EffectiveWarnWindow()
	for _, c := range it.live {
		nb, na := c.validity()
		at := na
		if watched(it.rec) {
			at = window.Start(nb, na)
		}
		if until.IsZero() || at.Before(until) {
			until = at
		}
	}
	if until.After(now) {
		n.Note(it.rec, until)
	}
}
