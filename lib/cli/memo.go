package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// NoMemoEnv, set to anything, makes every stage work out every record
// again instead of replaying what lib/memo remembered.
const NoMemoEnv = "MDTOOLS_NO_MEMO"

// MemoSpec lets a Stage replay answers that cannot have changed (lib/memo):
// a record whose input line, store paths and time window match a
// remembered answer is passed on with that answer, without being decoded,
// worked on or encoded.
type MemoSpec struct {
	// Stage names the memo file (memo-<Stage>.bin in the store root).
	Stage string
	// Paths are the store directories and files the answer for an MD
	// depends on.
	Paths func(name string) []memo.Path
	// Extra, if set, are absolute paths outside the store the answer for
	// a record depends on (md-install: the deployed certificates).
	Extra func(rec *md.Record) []string
}

// memoItem is one input line on its way through a memo run.
type memoItem struct {
	line Line
	key  memo.Key
	hit  *memo.Entry // the remembered answer, or nil
	rec  *md.Record  // the decoded record of a line without one
	out  []byte      // rec encoded
	err  error       // encoding rec failed
}

// memoUsable tells whether this run may use the memo.
func (s *Stage) memoUsable(env Env) bool {
	return s.Memo != nil && !s.NoInput && s.FromStore == nil && s.Checked == nil && s.Open == nil && env.Var(NoMemoEnv) == ""
}

// runMemo is Run with the memo: read the lines, look each up in the memo
// of the store the first record names, decode the others, choose and open
// the store as Run does, then work on the decoded records only.
func (s *Stage) runMemo(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
	lines, err := OpenLines(c.Args().Slice(), env.Stdin)
	if err != nil {
		return err
	}
	sc, err := storeChoice(c, env)
	if err != nil {
		return err
	}
	now := time.Now()
	items := make([]memoItem, len(lines))
	m, err := s.lookUp(sc, lines, items, now, log)
	if err != nil {
		return err
	}
	if m != nil {
		defer m.Close()
	}
	sc.Records = memoRecords(items)
	ch, err := Choose(log, sc)
	if err != nil {
		return err
	}
	if m != nil && ch.Dir != m.Dir() {
		// the records chose another store than the first one named
		if err := decodeHits(items); err != nil {
			return err
		}
		m.Close()
		m = nil
	}
	st, err := Open(ctx, ch)
	if err != nil {
		return &Hinted{Err: err, Hint: "that is the " + ch.String() + "; check it and that this user may write there"}
	}
	defer st.Close()
	w, err := s.Start(ctx, st, slowRecords(items))
	if err != nil {
		return err
	}
	if w.Close != nil {
		defer w.Close()
	}
	out := NewRecordWriter(env.Stdout)
	switch {
	case w.Each != nil && w.Batch == nil:
		err = s.workMemo(ctx, w, m, items, now, out, log)
	case w.Batch != nil && w.Each == nil:
		err = s.batchMemo(ctx, w, m, items, now, out, log)
	default:
		if err := decodeHits(items); err != nil {
			return err
		}
		return s.work(ctx, w, memoRecords(items), out, log)
	}
	if m != nil {
		if serr := m.Save(); serr != nil {
			log.Infof("memo not saved: %v", serr)
		}
	}
	return err
}

// lookUp fills items: a remembered answer where the memo has a usable one,
// the decoded record otherwise. The memo is that of the store the first
// record would choose; nil when there is none (no records, etcd).
func (s *Stage) lookUp(sc StoreChoice, lines []Line, items []memoItem, now time.Time, log *Logger) (*memo.Memo, error) {
	var m *memo.Memo
	for i, l := range lines {
		items[i].line = l
		if i == 0 {
			rec, err := l.Decode(true)
			if err != nil {
				return nil, err
			}
			items[i].rec = rec
			m = s.openMemo(sc, rec, log)
			continue
		}
		if m != nil {
			items[i].key = memo.KeyOf(l.Bytes)
			if e, ok := m.Lookup(items[i].key, now, s.Memo.Paths); ok {
				items[i].hit = e
				continue
			}
		}
		rec, err := l.Decode(true)
		if err != nil {
			return nil, err
		}
		items[i].rec = rec
	}
	if m != nil && len(items) > 0 {
		items[0].key = memo.KeyOf(items[0].line.Bytes)
		if e, ok := m.Lookup(items[0].key, now, s.Memo.Paths); ok {
			items[0].hit, items[0].rec = e, nil
		}
	}
	return m, nil
}

// openMemo opens the memo of the store the record (with the command line)
// chooses, if that is a directory.
func (s *Stage) openMemo(sc StoreChoice, first *md.Record, log *Logger) *memo.Memo {
	sc.Records = []*md.Record{first}
	ch, err := ChooseStore(sc)
	if err != nil || ch.Dir == "" || IsEtcd(ch.Dir) {
		return nil
	}
	m, err := memo.Open(ch.Dir, s.Memo.Stage, Version)
	if err != nil {
		log.Infof("memo: %v", err)
	}
	return m
}

// memoRecords are the records for the choice of the store and for Batch
// work: decoded ones, and for a remembered answer one with the MD's name
// and the record's store.
func memoRecords(items []memoItem) []*md.Record {
	recs := make([]*md.Record, len(items))
	for i, it := range items {
		recs[i] = it.rec
		if it.rec == nil {
			r := &md.Record{Store: it.hit.RecStore}
			r.Name = it.hit.Name
			recs[i] = r
		}
	}
	return recs
}

func slowRecords(items []memoItem) []*md.Record {
	var recs []*md.Record
	for _, it := range items {
		if it.rec != nil {
			recs = append(recs, it.rec)
		}
	}
	return recs
}

func decodeHits(items []memoItem) error {
	for i := range items {
		if items[i].rec == nil {
			rec, err := items[i].line.Decode(true)
			if err != nil {
				return err
			}
			items[i].rec, items[i].hit = rec, nil
		}
	}
	return nil
}

// workMemo is work for a memo run: Each on the decoded records, each
// answer remembered when Until allows it and nothing changed meanwhile;
// every line written in input order.
func (s *Stage) workMemo(ctx context.Context, w *Work, m *memo.Memo, items []memoItem, now time.Time, out *RecordWriter, log *Logger) error {
	var mu sync.Mutex
	locked, hits := 0, 0
	var werr error
	emit := func(i int) error {
		it := &items[i]
		b := it.out
		if it.hit != nil {
			b = it.hit.Output(it.line.Bytes, now)
		}
		if it.err != nil {
			werr = fmt.Errorf("encoding record %s: %w", it.rec.Name, it.err)
			return werr
		}
		if err := out.WriteLine(b); err != nil {
			werr = fmt.Errorf("writing records: %w", err)
		}
		it.out = nil
		return werr
	}
	err := pool.Ordered(len(items), max(1, w.Jobs), 0, func(i int) {
		it := &items[i]
		if it.hit != nil {
			mu.Lock()
			hits++
			mu.Unlock()
			return
		}
		err := s.eachRemembered(ctx, w, m, it)
		if errors.Is(err, store.ErrLocked) {
			log.Warnf("%s: skipped: another run holds its lock", it.rec.Name)
			mu.Lock()
			locked++
			mu.Unlock()
		}
	}, emit)
	if err != nil {
		return err
	}
	if m != nil {
		log.Infof("%d of %d records answered from the memo (%s)", hits, len(items), memo.FileName(s.Memo.Stage))
	}
	if err := Finish(log, slowRecords(items)); err != nil {
		return err
	}
	if locked > 0 {
		return &Hinted{Err: store.ErrLocked, Hint: s.LockedHint}
	}
	return nil
}

// eachRemembered runs Each on a decoded record, encodes the result, and
// remembers it when the stage says it stays valid and the paths it
// depends on did not change while it was worked out.
func (s *Stage) eachRemembered(ctx context.Context, w *Work, m *memo.Memo, it *memoItem) error {
	before, decided := s.fingerprint(m, it.rec), time.Now()
	err := w.Each(ctx, it.rec)
	it.out, it.err = it.rec.Redacted().MarshalJSON()
	if err == nil {
		s.remember(w, m, it, before, decided)
	}
	return err
}

// fingerprint sums the record's paths (0 without a memo).
func (s *Stage) fingerprint(m *memo.Memo, rec *md.Record) uint64 {
	if m == nil {
		return 0
	}
	sum, _ := m.Fingerprint(s.Memo.Paths(rec.Name), s.extra(rec))
	return sum
}

func (s *Stage) extra(rec *md.Record) []string {
	if s.Memo.Extra == nil {
		return nil
	}
	return s.Memo.Extra(rec)
}

// remember stores the answer in it.out for its line if the stage says it
// stays valid (Until), the record did not fail, and nothing it depends on
// changed since before was taken (or within memo.Margin of now).
func (s *Stage) remember(w *Work, m *memo.Memo, it *memoItem, before uint64, decided time.Time) {
	if m == nil || it.err != nil {
		return
	}
	rec := it.rec
	var until time.Time
	ok := false
	if w.Until != nil && rec.Error == nil {
		until, ok = w.Until(rec)
	}
	extra := s.extra(rec)
	after, settled := m.Fingerprint(s.Memo.Paths(rec.Name), extra)
	e, split := memo.Split(it.line.Bytes, it.out)
	if !ok || !settled || after != before || !split || !until.After(decided) {
		m.Forget(rec.Name)
		return
	}
	e.Name, e.RecStore, e.Stat, e.Extra = rec.Name, rec.Store, after, extra
	e.Decided, e.Until = decided.UnixNano(), until.UnixNano()
	m.Put(it.key, &e)
}

// batchMemo is work for a memo run of a Batch stage: Batch over the
// decoded records only; every line written in input order afterwards.
func (s *Stage) batchMemo(ctx context.Context, w *Work, m *memo.Memo, items []memoItem, now time.Time, out *RecordWriter, log *Logger) error {
	slow := slowRecords(items)
	before := make(map[*md.Record]uint64, len(slow))
	for _, r := range slow {
		before[r] = s.fingerprint(m, r)
	}
	decided := time.Now()
	recs, batchErr := w.Batch(ctx, slow)
	returned := make(map[*md.Record]bool, len(recs))
	for _, r := range recs {
		returned[r] = true
	}
	hits := 0
	for i := range items {
		it := &items[i]
		var b []byte
		switch {
		case it.hit != nil:
			hits++
			b = it.hit.Output(it.line.Bytes, now)
		case returned[it.rec]:
			delete(returned, it.rec)
			if it.out, it.err = it.rec.Redacted().MarshalJSON(); it.err != nil {
				return fmt.Errorf("encoding record %s: %w", it.rec.Name, it.err)
			}
			if batchErr == nil {
				s.remember(w, m, it, before[it.rec], decided)
			}
			b = it.out
		default:
			continue
		}
		if err := out.WriteLine(b); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
	}
	for _, r := range recs { // records Batch added
		if returned[r] {
			if err := out.Write(r); err != nil {
				return fmt.Errorf("writing records: %w", err)
			}
		}
	}
	if m != nil {
		log.Infof("%d of %d records answered from the memo (%s)", hits, len(items), memo.FileName(s.Memo.Stage))
	}
	finErr := Finish(log, recs)
	switch {
	case batchErr != nil:
		if errors.Is(batchErr, store.ErrLocked) && s.LockedHint != "" {
			return &Hinted{Err: batchErr, Hint: s.LockedHint}
		}
		return batchErr
	case finErr != nil:
		return finErr
	}
	return nil
}
