package status

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/renew"
)

// Step is what one stage will do with an MD on its next run, and when.
type Step struct {
	Action string    `json:"action"`        // renew, none, staged, blocked, activate, wait, fetch, refresh
	Reason string    `json:"reason"`        // why, in words
	Due    time.Time `json:"-"`             // when the stage has work (zero: nothing scheduled)
	DueStr string    `json:"due,omitempty"` // Due as RFC 822, or absent
}

// Plan is the next runs' view of one MD.
type Plan struct {
	Name    string `json:"name"`
	Order   Step   `json:"md-order"`
	Install Step   `json:"md-install"`
	Staple  Step   `json:"md-staple"`
	// Window explains the renew window: "33% of 90d lifetime = 29d 16h before expiry".
	Window  string    `json:"renew-window,omitempty"`
	ARI     string    `json:"ari,omitempty"`
	Warn    string    `json:"warn,omitempty"`
	Next    time.Time `json:"-"`
	NextStr string    `json:"next-due,omitempty"`
}

// fmtDur prints a duration in days and hours: "29d 16h".
func fmtDur(d time.Duration) string {
	days := int(d / md.Day)
	hours := int((d % md.Day) / time.Hour)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	}
	return d.Round(time.Second).String()
}

func (s *Step) due(t time.Time) {
	s.Due = t
	if !t.IsZero() {
		s.DueStr = httpDate(t)
	}
}

// Plan decides, without touching anything, what md-order, md-install and
// md-staple will do with this MD on their next run. staplingWindow is
// MDStaplingRenewWindow (default 33%).
func (rep *Report) Plan(staplingWindow md.Timeslice) Plan {
	now := rep.Now
	m := rep.MD
	p := Plan{Name: rep.Name}
	staged := rep.Job != nil && rep.Job.Finished && len(rep.Staged) == len(m.PrivKey.Effective())
	p.Order = rep.orderStep(staged)
	ari := rep.ARI
	if from, until := rep.Valid(); !until.IsZero() && m.RenewWindow != nil {
		life := until.Sub(from)
		p.Window = fmt.Sprintf("%s of %s lifetime = %s before expiry", m.RenewWindow, fmtDur(life), fmtDur(m.RenewWindow.Length(life)))
		if !rep.RenewAt.IsZero() {
			p.Window += ", from " + httpDate(rep.RenewAt)
		}
	} else if m.RenewWindow != nil {
		p.Window = m.RenewWindow.String() + " (no certificate yet)"
	}
	if ari != nil && m.ARIRenewals {
		p.ARI = fmt.Sprintf("suggested window %s - %s", httpDate(ari.Start), httpDate(ari.End))
	} else if m.ARIRenewals {
		p.ARI = "on; no ARI window recorded in the store"
	} else {
		p.ARI = "off"
	}
	if !rep.WarnAt.IsZero() {
		if rep.WarnAt.After(now) {
			p.Warn = "expiring warning from " + httpDate(rep.WarnAt)
		} else if rep.Job == nil || !rep.Job.Finished {
			p.Warn = "in the warn window since " + httpDate(rep.WarnAt)
		}
	}

	p.Install = rep.installStep(staged)
	// md-staple.
	p.Staple = rep.stapleStep(staplingWindow)

	for _, s := range []Step{p.Order, p.Install, p.Staple} {
		if !s.Due.IsZero() && (p.Next.IsZero() || s.Due.Before(p.Next)) {
			p.Next = s.Due
		}
	}
	if !p.Next.IsZero() {
		p.NextStr = httpDate(p.Next)
	}
	return p
}

// orderStep is md-order's next run: renew.Decide over what md-order
// reads, with the ARI point md-order picks (renew.ARIByte).
func (rep *Report) orderStep(staged bool) Step {
	now, m := rep.Now, rep.MD
	if len(rep.Problems) > 0 {
		return Step{Action: "blocked", Reason: "unreadable store files: " + strings.Join(rep.Problems, "; ")}
	}
	var certs []renew.Cert
	revoked := false
	for _, c := range rep.Certs {
		rc := renew.Cert{Spec: c.Spec, KeyMismatch: c.KeyMismatch}
		if c.Info != nil {
			rc.Leaf = c.Info.Cert
		}
		certs = append(certs, rc)
		revoked = revoked || c.OCSP != nil && c.OCSP.Status == "revoked"
	}
	var job *md.Job
	if rep.Job != nil {
		job = &rep.Job.Job
	}
	in := renew.Input{Now: now, MD: m, Certs: certs, Job: job, Staged: staged, Revoked: revoked, Revocations: rep.Revoked, Rand: 128}
	ari := rep.ARI
	if ari != nil && m.ARIRenewals { // MDRenewViaARI
		in.ARI, in.Rand = ari, renew.ARIByte(rep.Name, ari)
	}
	d := renew.Decide(in)
	st := Step{Action: d.Action, Reason: d.Reason}
	switch {
	case d.Action == renew.Renew:
		st.due(now)
	case !d.NextRun.IsZero():
		st.due(d.NextRun)
	case d.Action == renew.None && m.RenewMode != md.RenewManual && !(len(m.CertFiles) > 0 && m.RenewMode != md.RenewAlways) && !d.RenewAt.IsZero():
		st.due(d.RenewAt)
		if in.ARI != nil {
			// the point of the ARI window md-order renews at
			if at := renew.ARIPick(ari.Start, ari.End, in.Rand); at.Before(d.RenewAt) {
				st.due(at)
				st.Reason += "; the CA's ARI window suggests " + httpDate(at)
			}
		}
	}
	if job != nil && job.Errors > 0 && job.Last != nil && (job.Last.Problem != "" || job.Last.Detail != "") {
		st.Reason += "; last error: " + strings.TrimPrefix(strings.Join(nonEmpty(job.Last.Problem, job.Last.Detail), ": "), ": ")
	}
	return st
}

// installStep is md-install's next run: renew.ReadyToActivate for a
// complete staged set.
func (rep *Report) installStep(staged bool) Step {
	switch {
	case staged:
		ready, at := renew.ReadyToActivate(rep.Now, rep.stagedSet())
		st := Step{Action: "activate", Reason: fmt.Sprintf("%d new certificate%s staged", len(rep.Staged), plural(len(rep.Staged)))}
		if !ready {
			st.Action = "wait"
			st.Reason += ", ready from " + httpDate(at)
		} else {
			at = rep.Now
		}
		st.due(at)
		return st
	case rep.Job != nil && rep.Job.Finished:
		return Step{Action: "none", Reason: "staged set is incomplete"}
	}
	return Step{Action: "none", Reason: "nothing staged"}
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// stagedSet is what renew.ReadyToActivate needs, as md-install reads it:
// md-order's recorded ready time, the staged and the live certificates.
// The store does not hold MDActivationDelay; a set staged without a ready
// time is judged without it.
func (rep *Report) stagedSet() renew.StagedSet {
	var s renew.StagedSet
	if rep.Job != nil {
		s.ValidFrom = rep.Job.ValidFrom.Time
	}
	for _, c := range rep.Staged {
		if c.Info != nil && c.Info.Cert != nil && c.Info.Cert.NotBefore.After(s.NotBefore) {
			s.NotBefore = c.Info.Cert.NotBefore
		}
	}
	for _, c := range rep.Certs {
		if c.Info == nil || c.Info.Cert == nil {
			return renew.StagedSet{ValidFrom: s.ValidFrom, NotBefore: s.NotBefore}
		}
		if s.LiveNotAfter.IsZero() || c.Info.Cert.NotAfter.Before(s.LiveNotAfter) {
			s.LiveNotAfter = c.Info.Cert.NotAfter
		}
	}
	return s
}

// stapleStep is md-staple's next run: the earliest certificate due, judged
// by renew.OCSPDue with the per-certificate backoff md-staple keeps. With
// stapling off md-staple still asks the responder, to learn whether a
// certificate is revoked (md-order renews revoked certificates).
func (rep *Report) stapleStep(window md.Timeslice) Step {
	now := rep.Now
	var st Step
	n := 0
	var job *md.Job
	if rep.OCSPJob != nil {
		job = &rep.OCSPJob.Job
	}
	for _, c := range rep.Certs {
		o := c.OCSP
		if o == nil && c.Info != nil && c.Info.OCSPURL != "" && c.Info.HasIssuer {
			o = &OCSP{ID: c.Info.SHA1, Responder: c.Info.OCSPURL, Status: "unknown"}
		}
		if o == nil {
			continue
		}
		n++
		in := renew.OCSPState{HasResponse: o.Status != "unknown" && !o.Valid.Until.IsZero(), Valid: o.Valid}
		in.Errors, in.NextRun = ocspfile.RetryState(job, o.ID)
		due, at := renew.OCSPDue(now, in, window)
		reason := fmt.Sprintf("no OCSP response for %s yet", c.Key)
		if in.HasResponse {
			reason = fmt.Sprintf("%s response (%s) valid until %s, refresh %s before", c.Key, o.Status, httpDate(o.Valid.Until.Time), window)
		}
		if in.Errors > 0 && at.Equal(in.NextRun) {
			reason += fmt.Sprintf("; backoff after %d errors", in.Errors)
		}
		if st.Due.IsZero() || at.Before(st.Due) {
			st.Action, st.Reason = "refresh", reason
			if due {
				st.Action = "fetch"
			}
			st.due(at)
		}
	}
	switch {
	case n == 0 && !rep.MD.Stapling:
		return Step{Action: "none", Reason: "stapling off"}
	case n == 0:
		return Step{Action: "none", Reason: "no certificate names an OCSP responder"}
	case !rep.MD.Stapling:
		st.Reason = "stapling off, revocation check only: " + st.Reason
	}
	return st
}

// PlanDoc is the --plan document.
type PlanDoc struct {
	Now     string `json:"now"`
	NextDue string `json:"next-due,omitempty"`
	// SleepSeconds is how long a scheduler may sleep before anything is due.
	SleepSeconds int64  `json:"sleep-seconds"`
	Plans        []Plan `json:"managed-domains"`
}

// NewPlanDoc sums up plans: the earliest due time over all MDs.
func NewPlanDoc(now time.Time, plans []Plan) PlanDoc {
	doc := PlanDoc{Now: httpDate(now), Plans: plans}
	if doc.Plans == nil {
		doc.Plans = []Plan{}
	}
	var next time.Time
	for _, p := range plans {
		if !p.Next.IsZero() && (next.IsZero() || p.Next.Before(next)) {
			next = p.Next
		}
	}
	if !next.IsZero() {
		doc.NextDue = httpDate(next)
		if next.After(now) {
			doc.SleepSeconds = int64(next.Sub(now) / time.Second)
		}
	} else {
		doc.SleepSeconds = -1
	}
	return doc
}

// WritePlanText prints the plan for people.
func WritePlanText(w io.Writer, doc PlanDoc) error {
	var b strings.Builder
	for _, p := range doc.Plans {
		fmt.Fprintf(&b, "%s\n", p.Name)
		for _, s := range []struct {
			name string
			st   Step
		}{{"md-order", p.Order}, {"md-install", p.Install}, {"md-staple", p.Staple}} {
			due := ""
			if s.st.DueStr != "" {
				due = " [due " + s.st.DueStr + "]"
			}
			fmt.Fprintf(&b, "  %-11s %-8s %s%s\n", s.name, s.st.Action, s.st.Reason, due)
		}
		if p.Window != "" {
			fmt.Fprintf(&b, "  %-11s %s\n", "window", p.Window)
		}
		if p.ARI != "" {
			fmt.Fprintf(&b, "  %-11s %s\n", "ari", p.ARI)
		}
		if p.Warn != "" {
			fmt.Fprintf(&b, "  %-11s %s\n", "warn", p.Warn)
		}
	}
	if doc.NextDue != "" {
		fmt.Fprintf(&b, "next due: %s (sleep %ds)\n", doc.NextDue, doc.SleepSeconds)
	} else {
		fmt.Fprintf(&b, "next due: nothing scheduled\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
