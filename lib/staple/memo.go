package staple

import (
	"path/filepath"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/store"
)

// MemoPaths are the store paths md-staple's answer for an MD depends on
// (see lib/memo): the live certificates and the stored responses, CRL
// verdicts and job.
func MemoPaths(name string) []memo.Path {
	return []memo.Path{
		{Group: string(store.GroupDomains), Name: name},
		{Group: string(store.GroupOCSP), Name: name},
	}
}

// MemoExtra are the deployed files the answer depends on: per key spec
// the certificate and the response file (through the deploy directory's
// link to the current set: a new set gives them other inodes).
func MemoExtra(rec *md.Record) []string {
	if rec.Host == nil || rec.Host.Deploy == nil || rec.Host.Deploy.Dir == "" {
		return nil
	}
	dir := rec.Host.Deploy.Dir
	var out []string
	for _, ks := range rec.PrivKey.Effective() {
		out = append(out, filepath.Join(dir, ks.FileName("cert")), DeployFile(dir, ks))
	}
	return out
}

// Notes collects for md-staple's memo until when each record's answer
// holds (every response kept, nothing fetched): set Runner.Notes and give
// Notes.Until to the stage.
type Notes = memo.Notes[*md.Record]

// noteUntil notes, for a set whose responses were all kept, the first
// moment a response is due again or expires.
func noteUntil(n *Notes, s *Set, now time.Time) {
	rec := s.Record
	if n == nil || len(s.due) > 0 || rec.Error != nil || len(s.entries) == 0 || len(rec.CertFiles) > 0 ||
		rec.Staple == nil || len(rec.Staple.Warnings) > 0 {
		return
	}
	var until time.Time
	for _, e := range s.entries {
		okDetail := e.Detail == "" || s.checkOnly && e.Detail == checkOnlyDetail
		if e.Action != "kept" || !okDetail || e.RenewAt.IsZero() {
			return
		}
		for _, t := range []time.Time{e.RenewAt.Time, e.Valid.Until.Time} {
			if until.IsZero() || t.Before(until) {
				until = t
			}
		}
	}
	if until.After(now) {
		n.Note(rec, until)
	}
}
