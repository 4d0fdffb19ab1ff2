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
	switch view {
	case ViewJSON:
		rh := *r
		rh.Nodes = true
		r = &rh
	case ViewTable:
		rh := *r
		rh.History, rh.Nodes = true, true
		r = &rh
	case ViewMetrics:
		rh := *r
		rh.History, rh.Logs = true, true
		r = &rh
	case ViewPlan, ViewPlanText, ViewHTML, ViewDetail:
		rh := *r
		rh.History, rh.Logs, rh.HistoryLogs = true, true, true
		r = &rh
	}
	single := names != nil
	if names == nil {
		var err error
		if names, err = r.Names(ctx); err != nil {
			return err
		}
	}
	bad := 0
	count := func(rep *Report) {
		if len(rep.Problems) > 0 {
			bad++
		}
	}
	var err error
	switch view {
	case ViewJSON, ViewCertStatus:
		if single && len(names) == 1 {
			var rep *Report
			if rep, err = r.Load(ctx, names[0]); err != nil {
				return err
			}
			count(rep)
			doc := rep.JSON(true)
			if view == ViewCertStatus {
				doc = rep.CertificateStatusJSON()
			}
			var b []byte
			if b, err = Indent(doc); err == nil {
				_, err = w.Write(append(b, '\n'))
			}
			break
		}
		bad, err = r.WriteList(ctx, w, names)
	case ViewTable:
		var rows []TableRow
		err = r.Each(ctx, names, func(rep *Report) error {
			count(rep)
			rows = append(rows, rep.Row())
			return nil
		})
		if err == nil {
			err = WriteTable(w, rows, opt.Color)
		}
	case ViewPlan, ViewPlanText:
		var plans []Plan
		err = r.Each(ctx, names, func(rep *Report) error {
			count(rep)
			plans = append(plans, rep.Plan(opt.StaplingWindow))
			return nil
		})
		if err != nil {
			break
		}
		doc := NewPlanDoc(r.now(), plans)
		if view == ViewPlanText {
			err = WritePlanText(w, doc)
			break
		}
		var b []byte
		if b, err = json.MarshalIndent(doc, "", "  "); err == nil {
			_, err = w.Write(append(b, '\n'))
		}
	case ViewDetail:
		n := 0
		err = r.Each(ctx, names, func(rep *Report) error {
			count(rep)
			if n > 0 {
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
			n++
			return rep.WriteDetail(w, opt.StaplingWindow, opt.Color)
		})
	case ViewMetrics:
		mw := NewMetricsWriter()
		err = r.Each(ctx, names, func(rep *Report) error {
			count(rep)
			mw.Add(rep)
			return nil
		})
		if err == nil {
			_, err = mw.WriteTo(w)
		}
	case ViewServerStatus:
		ss := &ServerStatus{Check: opt.Check, Window: opt.StaplingWindow}
		err = r.Each(ctx, names, func(rep *Report) error {
			count(rep)
			ss.Add(rep)
			return nil
		})
		if err == nil {
			_, err = ss.WriteTo(w)
		}
	case ViewHTML:
		page := &HTMLPage{Check: opt.Check, Now: r.now(), Version: Version}
		err = r.Each(ctx, names, func(rep *Report) error {
			count(rep)
			page.Add(rep)
			return nil
		})
		if err == nil {
			_, err = page.WriteTo(w)
		}
	default:
		return fmt.Errorf("unknown view %d", view)
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return &BadStoreError{N: bad}
	}
	return nil
}
