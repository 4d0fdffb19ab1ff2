package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/pool"
)

// MaxLineBytes bounds one JSON line, so that junk input cannot exhaust
// memory.
const MaxLineBytes = 16 << 20

// InputError names the input, line and field of a bad record.
type InputError struct {
	Input string
	Line  int
	Err   error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s: line %d: %v", e.Input, e.Line, e.Err)
}
func (e *InputError) Unwrap() error { return e.Err }

// ReadRecords reads JSON Lines records from r. Every line is read and
// checked before anything is processed: the first bad line is returned as a
// UsageError wrapping an InputError ("stdin: line 3: field "ca.urls": ...").
// Blank lines are skipped. Names and domains are turned to lower case. If validate is true each record must also pass
// md.MD.Validate.
func ReadRecords(r io.Reader, input string, validate bool) ([]*md.Record, error) {
	lines, err := ReadLines(r, input)
	if err != nil {
		return nil, err
	}
	return decodeLines(lines, validate)
}

// decodeLines decodes every line; the first that fails is the error.
func decodeLines(lines []Line, validate bool) ([]*md.Record, error) {
	recs := make([]*md.Record, 0, len(lines))
	for _, l := range lines {
		rec, err := l.Decode(validate)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// Line is one non-blank input line, trimmed, and where it came from.
type Line struct {
	Input string
	No    int
	Bytes []byte
}

// Decode makes the line's record, lower-cases its names (as mod_md:
// domains/<name> is always lower case) and, if validate is true, checks it
// with md.MD.Validate; an error is a UsageError naming the input and line.
func (l Line) Decode(validate bool) (*md.Record, error) {
	rec, err := md.DecodeRecord(l.Bytes)
	if err != nil {
		return nil, &UsageError{Err: &InputError{Input: l.Input, Line: l.No, Err: err}}
	}
	rec.LowerNames()
	if validate {
		if err := rec.Validate(); err != nil {
			return nil, &UsageError{Err: &InputError{Input: l.Input, Line: l.No, Err: err}}
		}
	}
	return rec, nil
}

// ReadLines reads the non-blank lines of r, each at most MaxLineBytes.
func ReadLines(r io.Reader, input string) ([]Line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), MaxLineBytes)
	var lines []Line
	no := 0
	for sc.Scan() {
		no++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		lines = append(lines, Line{Input: input, No: no, Bytes: bytes.Clone(b)})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", MaxLineBytes)
		}
		return nil, &UsageError{Err: &InputError{Input: input, Line: no + 1, Err: err}}
	}
	return lines, nil
}

// OpenLines is OpenInputs without decoding: the lines of the named files
// ("-" is stdin), or of stdin when none are named.
func OpenLines(files []string, stdin io.Reader) ([]Line, error) {
	if len(files) == 0 {
		if isTerminal(stdin) {
			return nil, Usagef("no input: pipe records in (e.g. md-parse httpd.conf | ...) or name a file; see --help")
		}
		return ReadLines(stdin, "stdin")
	}
	var all []Line
	for _, f := range files {
		var lines []Line
		var err error
		if f == "-" {
			lines, err = ReadLines(stdin, "stdin")
		} else {
			fh, oerr := os.Open(f)
			if oerr != nil {
				return nil, &UsageError{Err: oerr}
			}
			lines, err = ReadLines(fh, f)
			fh.Close()
		}
		if err != nil {
			return nil, err
		}
		all = append(all, lines...)
	}
	return all, nil
}

// OpenInputs reads records from the named files ("-" is stdin), or from
// stdin when none are named. With no files and a terminal on stdin it
// returns a UsageError instead of waiting for typing.
func OpenInputs(files []string, stdin io.Reader, validate bool) ([]*md.Record, error) {
	lines, err := OpenLines(files, stdin)
	if err != nil {
		return nil, err
	}
	return decodeLines(lines, validate)
}

// isTerminal reports whether r is a character device (a TTY).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// IsTerminal reports whether w is a terminal (for choosing table output).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// RecordWriter writes records as JSON Lines, always redacted. It is safe
// for concurrent use.
type RecordWriter struct {
	mu      sync.Mutex
	w       io.Writer
	bw      *bufio.Writer // nil: every line is written at once
	timer   *time.Timer   // a FlushSoon pending
	scratch []byte        // WriteReplay's line
}

// NewRecordWriter writes to w (stdout), every line at once.
func NewRecordWriter(w io.Writer) *RecordWriter { return &RecordWriter{w: w} }

// NewBufferedRecordWriter writes to w through a buffer: lines go out when
// it is full or on Flush.
func NewBufferedRecordWriter(w io.Writer) *RecordWriter {
	return &RecordWriter{w: w, bw: bufio.NewWriterSize(w, 64<<10)}
}

// Flush writes out what is buffered.
func (rw *RecordWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.timer != nil {
		rw.timer.Stop()
		rw.timer = nil
	}
	if rw.bw == nil {
		return nil
	}
	return rw.bw.Flush()
}

// flushDelay is how long FlushSoon lets lines wait for more.
const flushDelay = 10 * time.Millisecond

// FlushSoon flushes after flushDelay unless a Flush comes first: the next
// stage gets lines while this one waits for slow work, without a write
// for every line when work is fast.
func (rw *RecordWriter) FlushSoon() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.bw == nil || rw.timer != nil || rw.bw.Buffered() == 0 {
		return
	}
	rw.timer = time.AfterFunc(flushDelay, func() { rw.Flush() })
}

// WriteReplay emits the output line a memo entry makes of an input line,
// built in the writer's scratch space instead of a new slice per line.
func (rw *RecordWriter) WriteReplay(e *memo.Entry, in []byte, now time.Time) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.scratch = e.AppendOutput(rw.scratch[:0], in, now)
	return rw.put(rw.scratch)
}

// put writes one line under the lock.
func (rw *RecordWriter) put(b []byte) error {
	if rw.bw != nil {
		rw.bw.Write(b)
		return rw.bw.WriteByte('\n')
	}
	_, err := rw.w.Write(append(b, '\n'))
	return err
}

// Write emits one record line.
func (rw *RecordWriter) Write(r *md.Record) error {
	// MarshalJSON directly: json.Marshal would validate and compact its
	// output a second time (a fifth of md-parse's CPU at 100,000 vhosts).
	b, err := r.Redacted().MarshalJSON()
	if err != nil {
		return fmt.Errorf("encoding record %s: %w", r.Name, err)
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.put(b)
}

// WriteRecords writes recs in order, encoding them in parallel; a record
// with a line in known (already encoded and redacted, maybe cut around
// its sources) is written as that line with the record's own sources.
func WriteRecords(w io.Writer, recs []*md.Record, known map[*md.Record]md.SourceLine) error {
	out := bufio.NewWriterSize(w, 64<<10)
	lines := make([][]byte, len(recs))
	errs := make([]error, len(recs))
	var scratch []byte
	err := pool.Ordered(len(recs), runtime.GOMAXPROCS(0), 4096, func(i int) {
		if _, ok := known[recs[i]]; ok {
			return // written as it is put together, below
		}
		lines[i], errs[i] = recs[i].Redacted().MarshalJSON()
	}, func(i int) error {
		if errs[i] != nil {
			return fmt.Errorf("encoding record %s: %w", recs[i].Name, errs[i])
		}
		if l, ok := known[recs[i]]; ok {
			scratch = l.Append(scratch[:0], recs[i].Sources())
			out.Write(scratch)
		} else {
			out.Write(lines[i])
			lines[i] = nil
		}
		return out.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return out.Flush()
}

// WriteLine emits one line already encoded (and redacted).
func (rw *RecordWriter) WriteLine(b []byte) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.put(b)
}

// Finish reports failed records on stderr and returns ErrRecordsFailed if
// any record carries an error. A record that failed in an earlier stage
// (its error names another stage than this command's) still counts, but is
// only mentioned with -v: the stage that failed already reported it, and a
// cron mail should not repeat one failure once per stage.
//
// Failures that say the same of different MDs (a CA that is down fails
// every MD of a run alike) are shown in full GroupedWarnings times, then
// counted in one line: a cron mail of a few lines, not of 100,000. -v
// shows every one; each record carries its own error on stdout.
func Finish(log *Logger, recs []*md.Record) error {
	// "md-order" -> "order"; "md-challenge setup" -> "challenge".
	own, _, _ := strings.Cut(strings.TrimPrefix(log.name, "md-"), " ")
	failed := 0
	count := map[string]int{}
	var order []string
	for _, r := range recs {
		if r.Error == nil {
			continue
		}
		failed++
		msg := r.Error.Error()
		if r.Error.Stage != "" && r.Error.Stage != own {
			log.Infof("%s: passed on, failed earlier: %s", r.Name, msg)
			continue
		}
		key := logger.Shape(r.Name, msg)
		if count[key]++; count[key] == 1 {
			order = append(order, key)
		}
		if count[key] <= GroupedWarnings || log.Verbose > 0 {
			log.Errorf("%s: %s", r.Name, msg)
		}
	}
	if log.Verbose == 0 {
		for _, key := range order {
			if n := count[key] - GroupedWarnings; n > 0 {
				log.Errorf("%s failed alike: <name>: %s (-v lists them; each record carries its error)", moreMDs(n), key)
			}
		}
	}
	if failed > 0 {
		return ErrRecordsFailed
	}
	return nil
}

func moreMDs(n int) string {
	if n == 1 {
		return "1 more MD"
	}
	return fmt.Sprintf("%d more MDs", n)
}

// lineSource reads the non-blank lines of the named files ("-" is stdin),
// or of stdin when none are named, one at a time; err is set when it
// stopped on an error rather than at the end. beforeWait, if set, is
// called whenever the next line is not buffered yet, before the read that
// may wait for it (the moment to flush output: see runStream).
type lineSource struct {
	files      []string
	stdin      io.Reader
	cur        *bufio.Reader
	name       string
	fh         *os.File
	no         int
	err        error
	beforeWait func()
}

func newLineSource(files []string, stdin io.Reader) (*lineSource, error) {
	if len(files) == 0 {
		if isTerminal(stdin) {
			return nil, Usagef("no input: pipe records in (e.g. md-parse httpd.conf | ...) or name a file; see --help")
		}
		files = []string{"-"}
	}
	return &lineSource{files: files, stdin: stdin}, nil
}

// next returns the next non-blank line, trimmed.
func (s *lineSource) next() (Line, bool) {
	for s.err == nil {
		if s.cur == nil && !s.open() {
			return Line{}, false
		}
		b, err := s.readLine()
		if b != nil {
			s.no++
			if b = bytes.TrimSpace(b); len(b) > 0 {
				return Line{Input: s.name, No: s.no, Bytes: b}, true
			}
			continue
		}
		if err != nil && err != io.EOF {
			s.err = &UsageError{Err: &InputError{Input: s.name, Line: s.no + 1, Err: err}}
			return Line{}, false
		}
		s.closeFile()
	}
	return Line{}, false
}

// readLine reads one line (a copy, without its newline); nil at the end.
func (s *lineSource) readLine() ([]byte, error) {
	if s.cur.Buffered() == 0 && s.beforeWait != nil {
		s.beforeWait()
	}
	var line []byte
	for {
		frag, err := s.cur.ReadSlice('\n')
		if len(line)+len(frag) > MaxLineBytes {
			return nil, fmt.Errorf("a line is longer than %d bytes", MaxLineBytes)
		}
		line = append(line, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		case err != nil:
			return nil, err
		}
		return line[:len(line)-1], nil
	}
}

// open starts the next input; false at the end of them or on an error.
func (s *lineSource) open() bool {
	if len(s.files) == 0 {
		return false
	}
	f := s.files[0]
	s.files = s.files[1:]
	r := s.stdin
	s.name = "stdin"
	if f != "-" {
		fh, err := os.Open(f)
		if err != nil {
			s.err = &UsageError{Err: err}
			return false
		}
		s.fh, s.name, r = fh, f, fh
	}
	s.cur = bufio.NewReaderSize(r, 64<<10)
	s.no = 0
	return true
}

func (s *lineSource) closeFile() {
	if s.fh != nil {
		s.fh.Close()
		s.fh = nil
	}
	s.cur = nil
}

func (s *lineSource) close() { s.closeFile() }
