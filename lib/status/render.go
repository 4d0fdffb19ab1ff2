package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mdtools/mdtools/lib/md"
)

// View is one rendering of the store.
type View int

// The views.
const (
	ViewJSON         View = iota // mod_md's md-status document
	ViewTable                    // one line per MD, for people
	ViewPlan                     // what the next runs will do (JSON)
	ViewPlanText                 // the same, for people
	ViewMetrics                  // Prometheus text format
	ViewServerStatus             // server-status?auto lines
	ViewHTML                     // self-contained HTML page
	ViewCertStatus               // /.httpd/certificate-status of one MD
	ViewDetail                   // per MD for people: certificates, job log, next steps
)

// Options steer the renderings.
type Options struct {
	Color          bool         // ANSI colour in the table
	Check          CertCheck    // MDCertificateCheck
	StaplingWindow md.Timeslice // MDStaplingRenewWindow, for plan and server-status
}

// DefaultOptions are mod_md's defaults.
func DefaultOptions() Options {
	return Options{Check: DefaultCertCheck, StaplingWindow: md.MustTimeslice(md.DefaultStaplingRenewWindow)}
}

// BadStoreError says how many MDs had unreadable files; the output was
// still written in full (exit 1).
type BadStoreError struct{ N int }

func (e *BadStoreError) Error() string {
	return fmt.Sprintf("%d managed domain%s with unreadable store files (state 4, see state-descr)", e.N, plural(e.N))
}

// Render writes a view of the named MDs (all of them when names is nil).
// One named MD in the JSON view gives mod_md's single-MD document with its
// job log. It returns a *BadStoreError when some MD had unreadable files.
func (r *Reader) Render(ctx context.Context, w io.Writer, view View, names []string, opt Options) error {
	r = r.forView(view)
	single := names != nil
	if single && r.MemoDir != "" {
		rc := *r // the memos hold whole stores
		rc.MemoDir = ""
		r = &rc
	}
	if names == nil {
		var err error
		if names, err = r.Names(ctx); err != nil {
			return err
		}
	}
	var bad int
	var err error
	switch view {
	case ViewJSON, ViewCertStatus:
		bad, err = r.renderJSON(ctx, w, view, names, single)
	case ViewTable, ViewMetrics:
		bad, err = r.renderParts(ctx, w, view, names, opt)
	default:
		var sink viewSink
		if sink, err = r.sinkFor(w, view, opt); err != nil {
			return err
		}
		bad, err = r.renderEach(ctx, w, names, sink)
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return &BadStoreError{N: bad}
	}
	return nil
}

// forView returns r, or a copy that also reads what the view shows: the
// past jobs, their logs and the logs of past jobs cost extra reads, so
// only the views that print them ask for them.
func (r *Reader) forView(view View) *Reader {
	rh := *r
	switch view {
	case ViewJSON:
		rh.Nodes = true
	case ViewTable:
		rh.History, rh.Nodes, rh.lean = true, true, true
	case ViewMetrics:
		rh.History, rh.Logs, rh.lean = true, true, true
	case ViewPlan, ViewPlanText, ViewHTML, ViewDetail:
		rh.History, rh.Logs, rh.HistoryLogs = true, true, true
	default:
		return r
	}
	rh.lean = rh.lean && !rh.slow
	return &rh
}

// renderJSON writes the JSON views: mod_md's single-MD document (or its
// certificate-status) when exactly one MD was named, the list otherwise.
func (r *Reader) renderJSON(ctx context.Context, w io.Writer, view View, names []string, single bool) (bad int, err error) {
	if !single || len(names) != 1 {
		return r.WriteList(ctx, w, names)
	}
	rep, err := r.Load(ctx, names[0])
	if err != nil {
		return 0, err
	}
	if len(rep.Problems) > 0 {
		bad = 1
	}
	doc := rep.JSON(true)
	if view == ViewCertStatus {
		doc = rep.CertificateStatusJSON()
	}
	b, err := Indent(doc)
	if err == nil {
		_, err = w.Write(append(b, '\n'))
	}
	return bad, err
}

// renderEach feeds every MD's report to the sink, counting the MDs with
// problems, and lets the sink write its view when all went in.
func (r *Reader) renderEach(ctx context.Context, w io.Writer, names []string, sink viewSink) (bad int, err error) {
	err = r.Each(ctx, names, func(rep *Report) error {
		if len(rep.Problems) > 0 {
			bad++
		}
		return sink.add(rep)
	})
	if err == nil {
		err = sink.finish(w)
	}
	return bad, err
}

// viewSink takes the reports of one view one at a time and writes the
// view at the end; views that need all reports first (the plan)
// collect them, the others write as they go.
type viewSink interface {
	add(rep *Report) error
	finish(w io.Writer) error
}

// sinkFor returns the sink of a view rendered report by report (the
// table and the metrics are made of parts: renderParts).
func (r *Reader) sinkFor(w io.Writer, view View, opt Options) (viewSink, error) {
	switch view {
	case ViewPlan, ViewPlanText:
		return &planSink{r: r, window: opt.StaplingWindow, text: view == ViewPlanText}, nil
	case ViewDetail:
		return &detailSink{w: w, window: opt.StaplingWindow, color: opt.Color}, nil
	case ViewServerStatus:
		return writerSink{&ServerStatus{Check: opt.Check, Window: opt.StaplingWindow}}, nil
	case ViewHTML:
		return writerSink{&HTMLPage{Check: opt.Check, Now: r.now(), Version: Version}}, nil
	}
	return nil, fmt.Errorf("unknown view %d", view)
}

// planSink collects the plans into one document, as JSON or as text.
type planSink struct {
	r      *Reader
	window md.Timeslice
	text   bool
	plans  []Plan
}

func (s *planSink) add(rep *Report) error {
	s.plans = append(s.plans, rep.Plan(s.window))
	return nil
}

func (s *planSink) finish(w io.Writer) error {
	doc := NewPlanDoc(s.r.now(), s.plans)
	if s.text {
		return WritePlanText(w, doc)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// detailSink writes each MD's detail as it comes, a blank line between two.
type detailSink struct {
	w      io.Writer
	window md.Timeslice
	color  bool
	n      int
}

func (s *detailSink) add(rep *Report) error {
	if s.n > 0 {
		if _, err := io.WriteString(s.w, "\n"); err != nil {
			return err
		}
	}
	s.n++
	return rep.WriteDetail(s.w, s.window, s.color)
}

func (s *detailSink) finish(io.Writer) error { return nil }

// reportWriter is a view that adds reports and writes itself whole:
// metrics, server-status and the HTML page.
type reportWriter interface {
	Add(rep *Report)
	WriteTo(w io.Writer) (int64, error)
}

// writerSink adapts a reportWriter to a viewSink.
type writerSink struct{ rw reportWriter }

func (s writerSink) add(rep *Report) error { s.rw.Add(rep); return nil }

func (s writerSink) finish(w io.Writer) error {
	_, err := s.rw.WriteTo(w)
	return err
}
