package status

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// CAName is how mod_md names a CA in server-status: a known CA's name,
// else the URL's host (md_get_ca_name_from_url).
func CAName(u string) string {
	if n := md.CANameForURL(u); n != "" {
		return n
	}
	if p, err := url.Parse(u); err == nil && p.Hostname() != "" {
		return p.Hostname()
	}
	return u
}

// CAURLs are the CA URLs server-status shows: the effective one if set,
// else the configured list.
func (rep *Report) CAURLs() []string {
	if rep.MD == nil || rep.MD.CA == nil {
		return nil
	}
	if rep.MD.CA.URL != "" {
		return []string{rep.MD.CA.URL}
	}
	return rep.MD.CA.URLs
}

// Valid is the period common to all installed certificates (zero if none).
func (rep *Report) Valid() (from, until time.Time) {
	for i, c := range rep.Certs {
		if c.Info == nil {
			if i > 0 {
				return time.Time{}, time.Time{}
			}
			continue
		}
		if i == 0 {
			from, until = c.Info.NotBefore, c.Info.NotAfter
		} else {
			from, until = common(from, until, c.Info.NotBefore, c.Info.NotAfter)
		}
	}
	return from, until
}

// StatusWord is server-status's Status column: good, expired,
// incomplete[: why], error, missing information, unknown.
func (rep *Report) StatusWord() string {
	switch rep.MD.State {
	case md.StateIncomplete:
		if rep.MD.StateDescr != "" {
			return "incomplete: " + rep.MD.StateDescr
		}
		return "incomplete"
	case md.StateComplete, md.StateExpired:
		_, until := rep.Valid()
		if until.IsZero() || until.After(rep.Now) {
			return "good"
		}
		return "expired"
	case md.StateError:
		return "error"
	case md.StateMissingInfo:
		return "missing information"
	}
	return "unknown"
}

// LastJob is the job that tells the latest news: the renewal in staging,
// else the one that produced the installed set.
func (rep *Report) LastJob() *Job {
	if rep.Job != nil {
		return rep.Job
	}
	return rep.History
}

// Failing reports whether the renewal's last run failed.
func (j *Job) Failing() bool {
	return j != nil && (j.Errors > 0 || (j.Last != nil && j.Last.Status != 0))
}

// Activity is a one-line summary of what is going on with the MD.
func (rep *Report) Activity() string {
	if len(rep.Problems) > 0 {
		return "error: " + rep.MD.StateDescr
	}
	if j := rep.Job; j != nil {
		switch {
		case j.Failing():
			s := "renewal failing"
			if j.Last != nil {
				if j.Last.Problem != "" {
					s += ": " + j.Last.Problem
				}
				if j.Last.Detail != "" {
					s += ": " + j.Last.Detail
				}
			}
			s += fmt.Sprintf(" (%d error%s", j.Errors, plural(j.Errors))
			if !j.NextRun.IsZero() && j.NextRun.After(rep.Now) {
				s += ", next try " + Roughly(j.NextRun.Time, rep.Now)
			}
			return s + ")"
		case j.Finished:
			return fmt.Sprintf("renewed, %d new certificate%s staged; run md-install", len(rep.Staged), plural(len(rep.Staged)))
		default:
			s := "renewal ongoing"
			if j.Last != nil && j.Last.Detail != "" {
				s += ": " + j.Last.Detail
			}
			return s
		}
	}
	last := ""
	if h := rep.History; h != nil && h.Finished && !h.LastRun.IsZero() {
		last = "renewed " + Roughly(h.LastRun.Time, rep.Now) + "; "
	}
	if rep.MD.RenewMode == md.RenewManual {
		if rep.Renew {
			return last + "renewal due, renew mode manual"
		}
		return last + "manual renew"
	}
	if rep.Renew {
		return last + "renewal due"
	}
	if !rep.RenewAt.IsZero() {
		return last + "renew " + Roughly(rep.RenewAt, rep.Now)
	}
	return strings.TrimSuffix(last, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Roughly prints t relative to now: "in 3 days", "2 hours ago"; beyond 4
// days it prints the date, as mod_md's server-status does.
func Roughly(t, now time.Time) string {
	d := t.Sub(now)
	if d >= 4*md.Day || d <= -4*md.Day {
		return "on " + t.UTC().Format("2006-01-02")
	}
	if d < 2*time.Second && d > -2*time.Second {
		return "just now"
	}
	if d >= 0 {
		return "in " + roughDuration(d)
	}
	return roughDuration(-d) + " ago"
}

func roughDuration(d time.Duration) string {
	switch {
	case d >= 2*md.Day:
		return fmt.Sprintf("%d days", int(d/md.Day))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	default:
		return fmt.Sprintf("%d seconds", int(d/time.Second))
	}
}

// DaysLeft is the number of whole days until t (negative when past).
func DaysLeft(t, now time.Time) int {
	d := t.Sub(now)
	if d < 0 {
		return -int((-d + md.Day - 1) / md.Day)
	}
	return int(d / md.Day)
}
