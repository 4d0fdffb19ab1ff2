package status

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// CertCheck is MDCertificateCheck: a name and a URL prefix to which a
// certificate's SHA-256 fingerprint is appended.
type CertCheck struct{ Name, URL string }

// DefaultCertCheck is mod_md's default.
var DefaultCertCheck = CertCheck{Name: "crt.sh", URL: "https://crt.sh?q="}

// ServerStatus accumulates mod_md's lines of server-status?auto (spec §6.3,
// mod_md_status.c md_domains_status_hook and md_ocsp_status_hook).
type ServerStatus struct {
	Check                            CertCheck
	Window                           md.Timeslice // MDStaplingRenewWindow
	total, ok, renew, errored, ready int
	domains                          strings.Builder
	staplings                        []stapling
	idx                              int
}

type stapling struct {
	domain, id, status, url string
	valid                   md.Period
	renewAt, now            time.Time
	job                     *Job
}

// mod_md prints seconds from now as apr_time_sec(t - apr_time_now()): t
// comes from its JSON (RFC 822, whole seconds: rounded down), now is exact,
// and the difference is truncated toward zero. Comparisons (t > now) use
// the same two values.

// exactNow is the moment mod_md's apr_time_now() stands for.
func exactNow(rep *Report) time.Time {
	if rep.At.IsZero() {
		return rep.Now
	}
	return rep.At
}

// jsonTime is t as mod_md reads it back from its JSON: whole seconds.
func jsonTime(t time.Time) time.Time { return t.Truncate(time.Second) }

// secondsFrom is apr_time_sec(t - now): truncated toward zero.
func secondsFrom(t, now time.Time) int64 { return int64(t.Sub(now) / time.Second) }

// Add adds one MD (reports must come sorted by name).
func (ss *ServerStatus) Add(rep *Report) {
	now := exactNow(rep)
	ss.count(rep, now)
	p := fmt.Sprintf("ManagedDomain[%d]", ss.idx)
	ss.idx++
	ss.writeDomain(p, rep, now)
	ss.writeActivity(p+"Activity", rep, now)
	ss.addStaplings(rep, now)
}

// count adds the MD to the totals of mod_md's summary line.
func (ss *ServerStatus) count(rep *Report, now time.Time) {
	ss.total++
	switch rep.MD.State {
	case md.StateComplete, md.StateIncomplete:
		if rep.MD.State == md.StateComplete {
			ss.ok++
		}
		if rep.RenewAt.IsZero() || rep.RenewAt.After(now) {
			break // md_reg_should_renew: not due
		}
		ss.renew++
		if j := rep.Job; j != nil {
			if j.Failing() {
				ss.errored++
			} else if j.Finished {
				ss.ready++
			}
		}
	default:
		ss.errored++
	}
}

// writeDomain writes the MD's lines up to its activity: names, status,
// validity, CAs, stapling and where to check each certificate.
func (ss *ServerStatus) writeDomain(p string, rep *Report, now time.Time) {
	b := &ss.domains
	fmt.Fprintf(b, "%sDomain: %s\n", p, rep.Name)
	for i, d := range rep.MD.Domains {
		fmt.Fprintf(b, "%sNames[%d]: %s\n", p, i, d)
	}
	fmt.Fprintf(b, "%sStatus: %s\n", p, rep.StatusWord())
	from, until := rep.Valid()
	if from.After(now) {
		fmt.Fprintf(b, "%sValidFrom: %s\n", p, from.Format("2006-01-02"))
	}
	if !until.IsZero() {
		fmt.Fprintf(b, "%sValidUntil: %s\n", p, until.Format("2006-01-02"))
	}
	for i, u := range rep.CAURLs() {
		n := ""
		if i > 0 {
			n = fmt.Sprint(i)
		}
		fmt.Fprintf(b, "%sCAName%s: %s\n%sCAURL%s: %s\n", p, n, CAName(u), p, n, u)
	}
	if rep.MD.Stapling {
		fmt.Fprintf(b, "%sStapling: on\n", p)
	}
	if ss.Check.Name != "" && ss.Check.URL != "" {
		for _, c := range rep.Certs {
			if c.Info == nil {
				continue
			}
			fmt.Fprintf(b, "%sCheckAtType: %s\n%sCheckAtName: %s\n%sCheckAtURL: %s%s\n%sCheckAtFingerprint: %s\n",
				p, c.Key, p, ss.Check.Name, p, ss.Check.URL, c.Info.SHA256, p, c.Info.SHA256)
		}
	}
}

// writeActivity writes the renewal's lines under prefix a: the running
// job, else when renewal is due, else whether it waits for a person.
func (ss *ServerStatus) writeActivity(a string, rep *Report, now time.Time) {
	b := &ss.domains
	switch j := rep.Job; {
	case j != nil:
		if j.Last != nil && j.Last.Status != 0 {
			fmt.Fprintf(b, "%sLastStatus: %s\n%sLastProblem: %s\n", a, statusText(j.Last), a, lastProblem(j))
		}
		fmt.Fprintf(b, "%sFinished: %s\n", a, yesNo(j.Finished))
		if j.Finished {
			fmt.Fprintf(b, "%sNewStaged: %d\n", a, len(rep.Staged))
		} else if j.Last != nil && j.Last.Detail != "" {
			fmt.Fprintf(b, "%sLastDetail: %s\n", a, j.Last.Detail)
		}
		// mod_md would print "Retries" here but reads "errors" from the MD
		// object, where it never is; Apache's output has no such line.
		if t := jsonTime(j.NextRun.Time); t.After(now) && !j.Finished {
			fmt.Fprintf(b, "%sNextRun: %d\n", a, secondsFrom(t, now))
		}
	case !rep.RenewAt.IsZero() && jsonTime(rep.RenewAt).After(now):
		fmt.Fprintf(b, "%sRenew: %d\n", a, secondsFrom(jsonTime(rep.RenewAt), now))
	case !rep.RenewAt.IsZero():
		fmt.Fprintf(b, "%s: Pending\n", a)
	case rep.MD.RenewMode == md.RenewManual:
		fmt.Fprintf(b, "%s: Manual renew\n", a)
	}
}

// addStaplings keeps the MD's OCSP responses for the stapling lines,
// which mod_md writes after all domains.
func (ss *ServerStatus) addStaplings(rep *Report, now time.Time) {
	for _, c := range rep.Certs {
		if c.OCSP == nil {
			continue
		}
		s := stapling{domain: rep.Name, id: c.OCSP.ID, status: c.OCSP.Status, url: c.OCSP.Responder, valid: c.OCSP.Valid, now: now}
		if !s.valid.Until.IsZero() {
			s.renewAt = ss.Window.Start(s.valid.From.Time, s.valid.Until.Time)
		}
		if s.status == "unknown" || s.renewAt.Before(now) {
			s.job = rep.OCSPJob
		}
		ss.staplings = append(ss.staplings, s)
	}
}

func statusText(r *md.JobResult) string {
	if r.StatusDescription != "" {
		return r.StatusDescription
	}
	return fmt.Sprintf("error %d", r.Status)
}

// lastProblem is the job's last problem as mod_md prints it with "%s":
// "(null)" when the job has none (apr's formatter prints a NULL string so).
func lastProblem(j *Job) string {
	if j.Last.Problem != "" {
		return j.Last.Problem
	}
	if j.Raw != nil {
		// "problem": "" is a problem, empty; only a missing key is NULL.
		if v, ok := j.Raw.Get("last"); ok {
			if raw, ok := v.(json.RawMessage); ok {
				var last struct {
					Problem *string `json:"problem"`
				}
				if json.Unmarshal(raw, &last) == nil && last.Problem != nil {
					return *last.Problem
				}
			}
		}
	}
	return "(null)"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteTo writes the ?auto lines.
func (ss *ServerStatus) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "ManagedCertificatesTotal: %d\nManagedCertificatesOK: %d\nManagedCertificatesRenew: %d\nManagedCertificatesErrored: %d\nManagedCertificatesReady: %d\n",
		ss.total, ss.ok, ss.renew, ss.errored, ss.ready)
	b.WriteString(ss.domains.String())
	sort.SliceStable(ss.staplings, func(i, j int) bool {
		if ss.staplings[i].domain != ss.staplings[j].domain {
			return ss.staplings[i].domain < ss.staplings[j].domain
		}
		return ss.staplings[i].id < ss.staplings[j].id
	})
	good, revoked, unknown := 0, 0, 0
	for _, s := range ss.staplings {
		switch s.status {
		case "good":
			good++
		case "revoked":
			revoked++
		default:
			unknown++
		}
	}
	fmt.Fprintf(&b, "ManagedStaplingsTotal: %d\nManagedStaplingsOK: %d\nManagedStaplingsRenew: %d\nManagedStaplingsErrored: %d\n",
		len(ss.staplings), good, revoked, unknown)
	for i, s := range ss.staplings {
		p := fmt.Sprintf("ManagedStapling[%d]", i)
		fmt.Fprintf(&b, "%sDomain: %s\n%sCertificateID: %s\n%sOCSPStatus: %s\n", p, s.domain, p, s.id, p, s.status)
		if s.valid.From.After(s.now) {
			fmt.Fprintf(&b, "%sStaplingValidFrom: %s\n", p, s.valid.From.Format("2006-01-02"))
		}
		if !s.valid.Until.IsZero() {
			fmt.Fprintf(&b, "%sStaplingValidUntil: %s\n", p, s.valid.Until.Format("2006-01-02"))
		}
		if s.url != "" {
			fmt.Fprintf(&b, "%sResponderName: %s\n%sResponderURL: %s\n", p, CAName(s.url), p, s.url)
		}
		a := p + "Activity"
		if !s.renewAt.IsZero() {
			fmt.Fprintf(&b, "%sRefresh: %d\n", a, secondsFrom(jsonTime(s.renewAt), s.now))
		}
		if j := s.job; j != nil {
			if j.Last != nil && j.Last.Status != 0 {
				fmt.Fprintf(&b, "%sLastStatus: %s\n%sLastProblem: %s\n", a, statusText(j.Last), a, lastProblem(j))
			}
			fmt.Fprintf(&b, "%sFinished: %s\n", a, yesNo(j.Finished))
			if j.Finished {
				fmt.Fprintf(&b, "%sNewStaged: 0\n", a)
			} else if j.Last != nil && j.Last.Detail != "" {
				fmt.Fprintf(&b, "%sLastDetail: %s\n", a, j.Last.Detail)
			}
			if t := jsonTime(j.NextRun.Time); t.After(s.now) && !j.Finished {
				fmt.Fprintf(&b, "%sNextRun: %d\n", a, secondsFrom(t, s.now))
			} else {
				fmt.Fprintf(&b, "%s: Ongoing\n", a)
			}
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
