package status

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// metric families, in output order.
var metricHelp = []struct{ name, typ, help string }{
	{"md_state", "gauge", "MD state as in md.json: 0 unknown, 1 incomplete, 2 complete, 4 error."},
	{"md_store_problems", "gauge", "Unreadable store files of the MD (md.json, job.json, PEM)."},
	{"md_cert_not_before_timestamp_seconds", "gauge", "Start of the certificate's validity."},
	{"md_cert_not_after_timestamp_seconds", "gauge", "End of the certificate's validity (expiry)."},
	{"md_cert_renew_at_timestamp_seconds", "gauge", "When the renew window of the certificate starts."},
	{"md_renew_at_timestamp_seconds", "gauge", "When the MD is due for renewal (earliest over its certificates)."},
	{"md_renew_due", "gauge", "1 when a renewal is due or in progress."},
	{"md_renewal_errors", "gauge", "Consecutive failed renewal runs (staging job errors)."},
	{"md_renewal_next_run_timestamp_seconds", "gauge", "Earliest next renewal attempt after a failure."},
	{"md_renewal_last_success_timestamp_seconds", "gauge", "When the last renewal run finished successfully."},
	{"md_renewal_staged", "gauge", "1 when a renewed set waits in staging for md-install."},
	{"md_ocsp_status", "gauge", "1 for the stored OCSP status of the certificate (good, revoked, unknown)."},
	{"md_ocsp_valid_until_timestamp_seconds", "gauge", "End of the stored OCSP response's validity."},
	{"md_ocsp_errors", "gauge", "Consecutive failed OCSP refreshes of the MD."},
}

// escLabel escapes a label value for the Prometheus text format.
func escLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func ts(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// MetricsWriter writes the Prometheus text exposition format, one series
// per MD (and key spec), grouped by metric family.
type MetricsWriter struct {
	series [][][]byte // lines by family, in metricHelp's order
}

// metricIndex is the index of each family in metricHelp.
var metricIndex = func() map[string]int {
	m := map[string]int{}
	for i, f := range metricHelp {
		m[f.name] = i
	}
	return m
}()

// NewMetricsWriter starts an empty exposition.
func NewMetricsWriter() *MetricsWriter {
	return &MetricsWriter{series: make([][][]byte, len(metricHelp))}
}

func (mw *MetricsWriter) add(name, labels, value string) {
	i := metricIndex[name]
	mw.series[i] = append(mw.series[i], []byte(name+"{"+labels+"} "+value))
}

// Add adds one MD's series.
func (mw *MetricsWriter) Add(rep *Report) {
	l := `md="` + escLabel(rep.Name) + `"`
	mw.add("md_state", l, strconv.Itoa(rep.MD.State))
	mw.add("md_store_problems", l, strconv.Itoa(len(rep.Problems)))
	for _, c := range rep.Certs {
		if c.Info == nil {
			continue
		}
		cl := l + `,spec="` + escLabel(c.Key) + `"`
		mw.add("md_cert_not_before_timestamp_seconds", cl, ts(c.Info.NotBefore))
		mw.add("md_cert_not_after_timestamp_seconds", cl, ts(c.Info.NotAfter))
		if rep.MD.RenewWindow != nil {
			mw.add("md_cert_renew_at_timestamp_seconds", cl, ts(rep.MD.RenewWindow.Start(c.Info.NotBefore, c.Info.NotAfter)))
		}
		if o := c.OCSP; o != nil {
			for _, s := range []string{"good", "revoked", "unknown"} {
				v := "0"
				if o.Status == s {
					v = "1"
				}
				mw.add("md_ocsp_status", cl+`,status="`+s+`"`, v)
			}
			if !o.Valid.Until.IsZero() {
				mw.add("md_ocsp_valid_until_timestamp_seconds", cl, ts(o.Valid.Until.Time))
			}
		}
	}
	if !rep.RenewAt.IsZero() {
		mw.add("md_renew_at_timestamp_seconds", l, ts(rep.RenewAt))
	}
	mw.add("md_renew_due", l, b01(rep.Renew))
	errs := 0
	if rep.Job != nil {
		errs = rep.Job.Errors
		if !rep.Job.NextRun.IsZero() && errs > 0 {
			mw.add("md_renewal_next_run_timestamp_seconds", l, ts(rep.Job.NextRun.Time))
		}
	}
	mw.add("md_renewal_errors", l, strconv.Itoa(errs))
	if t := rep.LastSuccess(); !t.IsZero() {
		mw.add("md_renewal_last_success_timestamp_seconds", l, ts(t))
	}
	mw.add("md_renewal_staged", l, b01(rep.Job != nil && rep.Job.Finished && len(rep.Staged) > 0))
	if rep.MD.Stapling {
		oe := 0
		if rep.OCSPJob != nil {
			oe = rep.OCSPJob.Errors
		}
		mw.add("md_ocsp_errors", l, strconv.Itoa(oe))
	}
}

// LastSuccess is when a renewal of this MD last finished: the newest
// "finished" entry of the staging job, else of the installed set's job
// (or, when only its head was read, that job's last run).
func (rep *Report) LastSuccess() time.Time {
	for _, j := range []*Job{rep.Job, rep.History} {
		if j == nil {
			continue
		}
		if e, ok := j.LastEntry("finished"); ok {
			return e.When.Time
		}
		if j == rep.History && j.Finished && len(j.Log.Entries) == 0 {
			return j.LastRun.Time
		}
	}
	return time.Time{}
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// WriteTo writes the exposition (through a buffer, not as one string:
// 100,000 MDs' series are about 100 MB).
func (mw *MetricsWriter) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	b := bufio.NewWriterSize(cw, 64<<10)
	for i, m := range metricHelp {
		s := mw.series[i]
		if len(s) == 0 {
			continue
		}
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, line := range s {
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	err := b.Flush()
	return cw.n, err
}

// countingWriter counts what went through to w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
