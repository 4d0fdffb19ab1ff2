package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
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

// MemoContext names the build a memo was written by: the version and the
// executable's size and times, so that a rebuilt binary of the same
// version (a developer's) does not replay answers of the old code.
func MemoContext() string { return memoContext() }

var memoContext = sync.OnceValue(func() string {
	ctx := Version
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			ctx += fmt.Sprintf(" %d %d", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return ctx
})

// bigMemo is the memo size from which MemoHeld lowers the collector's
// target (about 20,000 MDs).
const bigMemo = 8 << 20

// memoGCPercent is the collector's target while a big memo is held.
const memoGCPercent = 25

// MemoHeld tells the runtime that the process holds m for the rest of the
// run: a memo of 100,000 MDs is one buffer of 25-80 MB, and at Go's
// default GOGC of 100 the heap grows to twice what is live before a
// collection. Over 8 MB, unless $GOGC is set, the target becomes 25 %
// (peak memory near what is live; at 100,000 MDs md-install 157 -> 90 MB,
// md-staple 190-350 -> 105 MB). Runs without a memo (the first after an
// upgrade, which do the full work) keep the default: there it would cost
// about a quarter more CPU.
func MemoHeld(m *memo.Memo) {
	if m != nil && m.Size() > bigMemo {
		holdingMuch()
	}
}

// bigBatch is the number of records held at once from which RecordsHeld
// lowers the collector's target.
const bigBatch = 20000

// RecordsHeld tells the runtime that the process holds n records at
// once, as md-parse and the batch stages (md-install, md-staple) do when
// their memo cannot answer (the first run after an upgrade): from
// bigBatch on, GOGC 25 as for MemoHeld (100,000 MDs without memo:
// md-install 1.33 -> 0.98 GB peak for 22 % more CPU, 9.9 -> 12.1 s; a
// rare run, where memory is what can hurt a shared host).
func RecordsHeld(n int) {
	if n >= bigBatch {
		holdingMuch()
	}
}

// holdingMuch sets the collector's target to memoGCPercent unless $GOGC
// says otherwise.
func holdingMuch() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(memoGCPercent)
	}
}

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
	// Off: the run streams but neither replays nor remembers (--force,
	// --dry-run).
	Off bool
}

// memoItem is one input line on its way through a streaming run.
type memoItem struct {
	line Line
	key  memo.Key
	hit  *memo.Entry // a remembered answer that may apply (checked by use)
	rec  *md.Record  // the decoded record, unless hit
	out  []byte      // rec encoded
	err  error       // encoding rec failed
	// streamBatch: the fingerprint of rec's paths before it was worked
	// on; answered by Work.Quick; its name came earlier in the input
	before        uint64
	quick, repeat bool
}

// name is the MD the item is about.
func (it *memoItem) name() string {
	if it.hit != nil {
		return it.hit.Name
	}
	return it.rec.Name
}

// streams tells whether a run reads its records as a stream (runStream).
func (s *Stage) streams() bool {
	return s.Memo != nil && !s.NoInput && s.FromStore == nil && s.Checked == nil
}

// runStream is Run for a stage with a MemoSpec. Records are read, checked
// and worked on as they come, and written in input order as soon as they
// and all before them are done, so the stages of a pipeline overlap and
// memory does not grow with the input. The first record (with the command
// line) chooses the store; every later record must name the same one.
// A bad line ends the input there: the records before it are worked on
// and written, none after it, and the run exits 2 naming the line.
// Records whose answer the store's memo remembers (lib/memo) are passed on
// with that answer, without being decoded or worked on.
func (s *Stage) runStream(ctx context.Context, c *ucli.Context, env Env, log *Logger) error {
	src, err := newLineSource(c.Args().Slice(), env.Stdin)
	if err != nil {
		return err
	}
	defer src.close()
	sc, err := storeChoice(c, env)
	if err != nil {
		return err
	}
	in := &streamInput{src: src, now: time.Now()}
	if first, ok := src.next(); ok {
		if in.first, err = first.Decode(true); err != nil {
			return err
		}
		sc.Records = []*md.Record{in.first}
		in.firstLine = first
	} else if src.err != nil {
		return src.err
	}
	ch, err := Choose(log, sc)
	if err != nil {
		return err
	}
	in.store = ch
	if in.first != nil {
		if err := in.checkStore(in.first.Name, in.first.Store); err != nil {
			return err
		}
	}
	st, done, err := s.openChosen(ctx, ch)
	if done != nil {
		defer done()
	}
	if err != nil {
		return err
	}
	if s.memoOn(env) && !IsEtcd(ch.Dir) {
		m, err := memo.Open(ch.Dir, s.Memo.Stage, MemoContext())
		if err != nil {
			log.Infof("memo: %v", err)
		}
		defer m.Close()
		MemoHeld(m)
		in.memo = m
	}
	w, err := s.Start(ctx, st, nil)
	if err != nil {
		return err
	}
	if w.Close != nil {
		defer w.Close()
	}
	// Lines go out in batches, but never wait in the buffer while this
	// stage waits for work or for its input.
	out := NewBufferedRecordWriter(env.Stdout)
	src.beforeWait = func() { out.Flush() }
	var res *streamResult
	if w.Batch != nil {
		res, err = s.streamBatch(ctx, w, in, out)
	} else {
		res, err = s.streamEach(ctx, w, in, out, log)
	}
	if ferr := out.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("writing records: %w", ferr)
	}
	if in.memo != nil {
		log.Infof("%d of %d records answered from the memo (%s)", res.hits, res.total, memo.FileName(s.Memo.Stage))
		if serr := in.memo.Save(); serr != nil {
			log.Infof("memo not saved: %v", serr)
		}
	}
	return s.finishStream(log, res, err, in.err)
}

// openChosen opens the chosen store as Open (or Stage.Open) does.
func (s *Stage) openChosen(ctx context.Context, ch ChosenStore) (*store.Store, func(), error) {
	if s.Open != nil {
		return s.Open(ctx, ch)
	}
	st, err := Open(ctx, ch)
	if err != nil {
		return nil, nil, &Hinted{Err: err, Hint: "that is the " + ch.String() + "; check it and that this user may write there"}
	}
	return st, func() { st.Close() }, nil
}

// memoOn: the stage may use its memo in this run.
func (s *Stage) memoOn(env Env) bool { return !s.Memo.Off && env.Var(NoMemoEnv) == "" }

// streamInput hands out the input's items one by one: a remembered answer
// where the memo has one, else the decoded record; the first bad line ends
// it with err.
type streamInput struct {
	src       *lineSource
	store     ChosenStore
	memo      *memo.Memo
	now       time.Time
	first     *md.Record
	firstLine Line
	err       error // the input error that ended the input
}

func (in *streamInput) next() (*memoItem, bool) {
	if in.err != nil {
		return nil, false
	}
	if in.first != nil {
		it := &memoItem{line: in.firstLine, rec: in.first}
		in.first = nil
		in.lookUp(it)
		return it, true
	}
	l, ok := in.src.next()
	if !ok {
		in.err = in.src.err
		return nil, false
	}
	it := &memoItem{line: l}
	if in.lookUp(it) {
		if in.err = in.checkStore(it.hit.Name, it.hit.RecStore); in.err != nil {
			return nil, false
		}
		return it, true
	}
	if it.rec, in.err = l.Decode(true); in.err != nil {
		return nil, false
	}
	if in.err = in.checkStore(it.rec.Name, it.rec.Store); in.err != nil {
		return nil, false
	}
	return it, true
}

// lookUp finds a remembered answer for the line that may apply (its time
// window holds; whether its paths are unchanged is checked by the one
// who uses it, in parallel).
func (in *streamInput) lookUp(it *memoItem) bool {
	if in.memo == nil {
		return false
	}
	it.key = memo.KeyOf(it.line.Bytes)
	it.hit, _ = in.memo.Candidate(it.key, in.now)
	return it.hit != nil
}

// checkStore: every record names the store the first one chose, or none.
func (in *streamInput) checkStore(name, recStore string) error {
	if recStore == "" {
		return nil
	}
	if !filepath.IsAbs(recStore) && !strings.Contains(recStore, "://") {
		return Usagef("record %s: \"store\" must be an absolute directory, got %q", name, recStore)
	}
	if d := normStore(recStore); d != in.store.Dir {
		return &UsageError{Err: &Hinted{
			Err:  fmt.Errorf("the records name two stores: %s (this run's: %s) and %s (record %s)", in.store.Dir, in.store.From, d, name),
			Hint: "records from two md-parse runs with different stores were mixed; run one pipeline per config"}}
	}
	return nil
}

// confirm checks a candidate answer's paths and falls back to decoding
// the line when they changed.
func (s *Stage) confirm(in *streamInput, it *memoItem) {
	if it.hit == nil || in.memo.Valid(it.hit, s.Memo.Paths) {
		return
	}
	it.hit = nil
	// the line was remembered, so it decoded and checked before
	if rec, err := it.line.Decode(true); err == nil {
		it.rec = rec
	} else {
		it.err = err
	}
}

// streamResult is what a streaming run saw.
type streamResult struct {
	total, hits, locked int
	failed              []*md.Record // the records worked on that failed, for Finish (a run over 100,000 MDs must not hold them all)
	batchErr            error
}

// streamEach runs Each on the records as they come, in a pool, and writes
// each in input order.
func (s *Stage) streamEach(ctx context.Context, w *Work, in *streamInput, out *RecordWriter, log *Logger) (*streamResult, error) {
	res := &streamResult{}
	skips := &lockedSkips{log: log}
	err := pool.Stream(max(1, w.Jobs), streamWindow, in.next, func(it *memoItem) {
		s.confirm(in, it)
		if it.hit != nil || it.err != nil {
			return
		}
		if err := s.eachRemembered(ctx, w, in.memo, it); errors.Is(err, store.ErrLocked) {
			skips.skip(it.rec.Name)
		}
	}, func(it *memoItem) error {
		return res.emit(out, it, in.now)
	}, out.FlushSoon)
	res.locked = skips.count()
	return res, err
}

// streamWindow bounds the records between reading and writing.
const streamWindow = 1024

// emit writes an item (its remembered answer, or its record) and counts it.
func (res *streamResult) emit(out *RecordWriter, it *memoItem, now time.Time) error {
	res.total++
	switch {
	case it.err != nil && it.rec == nil:
		return it.err // a remembered line that no longer decodes
	case it.hit != nil:
		res.hits++
		if err := out.WriteReplay(it.hit, it.line.Bytes, now); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		return nil
	case it.err != nil:
		return fmt.Errorf("encoding record %s: %w", it.rec.Name, it.err)
	}
	res.noteFailed(it.rec)
	return writeLine(out, it.out)
}

func (res *streamResult) noteFailed(r *md.Record) {
	if r != nil && r.Error != nil {
		res.failed = append(res.failed, r)
	}
}

func writeLine(out *RecordWriter, b []byte) error {
	if err := out.WriteLine(b); err != nil {
		return fmt.Errorf("writing records: %w", err)
	}
	return nil
}

// streamBatch passes remembered answers, and the records Work.Quick
// answers, on as they come while no record waits for the batch; the other
// records (and every answer after the first of them, to keep the order)
// wait for one Batch at the end of the input.
func (s *Stage) streamBatch(ctx context.Context, w *Work, in *streamInput, out *RecordWriter) (*streamResult, error) {
	res := &streamResult{}
	var held []*memoItem
	before := map[*md.Record]uint64{}
	var names map[string]bool // with Quick: the MDs read so far
	if w.Quick != nil {
		names = map[string]bool{}
	}
	next := func() (*memoItem, bool) {
		it, ok := in.next()
		if ok && names != nil && (it.hit != nil || it.rec != nil) {
			it.repeat = names[it.name()]
			names[it.name()] = true
		}
		return it, ok
	}
	work := func(it *memoItem) {
		s.confirm(in, it)
		if it.hit != nil || it.rec == nil {
			return
		}
		it.before = s.fingerprint(in.memo, it.rec)
		if w.Quick == nil || it.repeat {
			return
		}
		decided := time.Now()
		if !w.Quick(ctx, it.rec) {
			return
		}
		it.quick = true
		if it.out, it.err = it.rec.Redacted().MarshalJSON(); it.err == nil {
			s.remember(w, in.memo, it, it.before, decided)
		}
	}
	var badLine error // a remembered line that no longer decodes ends the input
	emit := func(it *memoItem) error {
		if it.err != nil && it.rec == nil {
			badLine = it.err
			return errInputEnded
		}
		if (it.hit != nil || it.quick) && len(held) == 0 {
			return res.emit(out, it, in.now)
		}
		if it.quick && it.err == nil && it.rec.Error == nil {
			it.rec = nil // only its line waits
		} else if it.rec != nil && !it.quick {
			before[it.rec] = it.before
		}
		held = append(held, it)
		if len(held) == bigBatch {
			RecordsHeld(len(held))
		}
		return nil
	}
	err := s.eachInOrder(w, next, work, emit, out)
	if badLine != nil {
		in.err = badLine // before any later line's
	}
	if err != nil && err != errInputEnded {
		return res, err
	}
	var slow []*md.Record
	for _, it := range held {
		if it.hit == nil && !it.quick {
			slow = append(slow, it.rec)
		}
	}
	decided := time.Now()
	if w.Each != nil {
		for _, r := range slow {
			if err := w.Each(ctx, r); errors.Is(err, store.ErrLocked) {
				res.locked++
			}
		}
	}
	recs, batchErr := w.Batch(ctx, slow)
	slow = nil
	res.batchErr = batchErr
	returned := make(map[*md.Record]bool, len(recs))
	var added []*md.Record // records Batch added, in its order
	for _, r := range recs {
		returned[r] = true
		if _, ok := before[r]; !ok {
			added = append(added, r)
		}
	}
	recs = nil
	for i, it := range held {
		// each item is released once written: over 100,000 records the
		// encoded output would otherwise pile up on all the records
		held[i] = nil
		if it.hit == nil && !it.quick {
			if !returned[it.rec] {
				continue
			}
			delete(returned, it.rec)
			if it.out, it.err = it.rec.Redacted().MarshalJSON(); it.err == nil && batchErr == nil {
				s.remember(w, in.memo, it, before[it.rec], decided)
			}
			delete(before, it.rec)
		}
		if err := res.emit(out, it, in.now); err != nil {
			return res, err
		}
	}
	for _, r := range added {
		res.noteFailed(r)
		if err := out.Write(r); err != nil {
			return res, fmt.Errorf("writing records: %w", err)
		}
	}
	return res, nil
}

// errInputEnded stops streamBatch's reading at a bad line (in.err).
var errInputEnded = errors.New("input ended")

// eachInOrder is pool.Stream for streamBatch. Items are worked on one at
// a time on this goroutine while most are remembered answers (a cron run
// with nothing due, where workers only add hand-overs: 0.3 CPU s more over
// 100,000 MDs in a pipeline); from the quickChunk-th item that is not (the
// first run after an upgrade), with Quick, Jobs chunks at once (default 2
// per CPU, at least 4).
func (s *Stage) eachInOrder(w *Work, next func() (*memoItem, bool), work func(*memoItem), emit func(*memoItem) error, out *RecordWriter) error {
	for worked := 0; w.Quick == nil || worked < quickChunk; {
		it, ok := next()
		if !ok {
			return nil
		}
		work(it)
		if it.hit == nil {
			worked++
		}
		if err := emit(it); err != nil {
			return err
		}
	}
	jobs := w.Jobs
	if jobs < 1 {
		jobs = max(4, 2*runtime.GOMAXPROCS(0))
	}
	nextChunk := func() ([]*memoItem, bool) {
		var c []*memoItem
		for len(c) < quickChunk {
			it, ok := next()
			if !ok {
				break
			}
			c = append(c, it)
		}
		return c, len(c) > 0
	}
	workChunk := func(c []*memoItem) {
		for _, it := range c {
			work(it)
		}
	}
	emitChunk := func(c []*memoItem) error {
		for _, it := range c {
			if err := emit(it); err != nil {
				return err
			}
		}
		return nil
	}
	return pool.Stream(jobs, streamWindow/quickChunk, nextChunk, workChunk, emitChunk, out.FlushSoon)
}

// quickChunk is the items one hand-over to a worker of eachInOrder carries.
const quickChunk = 64

// finishStream gives a streaming run's exit: an input error (exit 2) wins,
// then a Batch error, failed records (1), skipped locked MDs (3).
func (s *Stage) finishStream(log *Logger, res *streamResult, err, inErr error) error {
	finErr := Finish(log, res.failed)
	switch {
	case err != nil:
		return err
	case inErr != nil:
		log.Errorf("the input ended at a bad line; records before it, processed and written: %d", res.total)
		return inErr
	case res.batchErr != nil:
		if errors.Is(res.batchErr, store.ErrLocked) && s.LockedHint != "" {
			return &Hinted{Err: res.batchErr, Hint: s.LockedHint}
		}
		return res.batchErr
	case finErr != nil:
		return finErr
	case res.locked > 0:
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
	rec := it.rec
	var until time.Time
	ok := false
	if w.Until != nil {
		// read even when nothing is remembered: Until forgets what it
		// read, and what it holds must not pile up (records, keys)
		until, ok = w.Until(rec)
	}
	if m == nil || it.err != nil || rec.Error != nil {
		return
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
	noteAnswer()
}

// manyAnswers is the number of new memo answers from which noteAnswer
// lowers a raised collector target.
const manyAnswers = 20000

var newAnswers atomic.Int64

// noteAnswer counts a new memo answer. From manyAnswers on (the first run
// after an upgrade, over 20,000 MDs), unless $GOGC is set, the target of
// a stage that raised it for its short-lived garbage (md-order: 200) is
// at most 100. (When the answers stayed in memory until the memo was
// saved, md-order's first run over 100,000 MDs went 221 -> 148-150 MB;
// now that they wait in the memo's spill file, 109 -> 84 MB for the same
// CPU within noise.)
func noteAnswer() {
	if newAnswers.Add(1) == manyAnswers && os.Getenv("GOGC") == "" {
		if prev := debug.SetGCPercent(100); prev < 100 {
			debug.SetGCPercent(prev)
		}
	}
}
