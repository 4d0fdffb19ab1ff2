package status

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
)

// maxDetailLog is how many job log entries the per-MD view shows.
const maxDetailLog = 10

// WriteDetail writes one MD for people (md-status NAME on a terminal):
// its state, settings, each certificate (file, key type, serial,
// validity, fingerprint, issuer, OCSP), the renewal in staging, the job
// log, and what the next md-order, md-install and md-staple runs will do.
func (rep *Report) WriteDetail(w io.Writer, staplingWindow md.Timeslice, color bool) error {
	// Built whole first: a failing writer leaves no half section.
	var b strings.Builder
	rep.writeDetailHead(&b, color)
	rep.writeDetailCerts(&b)
	rep.writeDetailJob(&b)
	rep.writeDetailNext(&b, staplingWindow)
	_, err := io.WriteString(w, b.String())
	return err
}

// detailKV writes one "key: value" line of the head, values aligned.
func detailKV(b *strings.Builder, k, v string) { fmt.Fprintf(b, "  %-14s%s\n", k+":", v) }

// writeDetailHead writes the status line (yellow for warnings, red for
// errors) and the MD's settings.
func (rep *Report) writeDetailHead(b *strings.Builder, color bool) {
	row := rep.Row()
	head := rep.Name + "  " + rep.StatusWord()
	if color {
		switch row.Level {
		case 1:
			head = "\x1b[33m" + head + "\x1b[0m"
		case 2:
			head = "\x1b[31m" + head + "\x1b[0m"
		}
	}
	b.WriteString(head + "\n")
	m := rep.MD
	detailKV(b, "domains", strings.Join(m.Domains, ", "))
	for _, p := range rep.Problems {
		detailKV(b, "unreadable", p)
	}
	if urls := rep.CAURLs(); len(urls) > 0 {
		detailKV(b, "CA", CAName(urls[0])+" ("+urls[0]+")")
	}
	detailKV(b, "renewal", rep.renewalLine())
	detailKV(b, "stapling", onOff(m.Stapling)+", must-staple "+onOff(m.MustStaple))
	detailKV(b, "activity", row.Activity)
}

// renewalLine is the renew mode, the window when set, and when renewal is due.
func (rep *Report) renewalLine() string {
	m := rep.MD
	mode := map[int]string{md.RenewManual: "manual", md.RenewAuto: "auto", md.RenewAlways: "always"}[m.RenewMode]
	line := "mode " + mode
	if m.RenewWindow != nil {
		line += ", window " + m.RenewWindow.String()
	}
	switch {
	case rep.RenewAt.IsZero():
	case !rep.RenewAt.After(rep.Now):
		line += ", due now"
	default:
		line += ", at " + dateRel(rep.RenewAt, rep.Now)
	}
	return line
}

// writeDetailCerts writes the installed certificates, then the staged ones
// while a renewal job holds them.
func (rep *Report) writeDetailCerts(b *strings.Builder) {
	b.WriteString("\ncertificates\n")
	if len(rep.Certs) == 0 {
		b.WriteString("  none\n")
	}
	for _, c := range rep.Certs {
		rep.writeCert(b, c)
	}
	if rep.Job != nil && len(rep.Staged) > 0 {
		b.WriteString("\nstaged (md-install activates them)\n")
		for _, c := range rep.Staged {
			rep.writeCert(b, c)
		}
	}
}

// writeDetailJob writes the running (or last) renewal job and its newest
// log entries; the rest is one jq away.
func (rep *Report) writeDetailJob(b *strings.Builder) {
	j := rep.LastJob()
	if j == nil {
		return
	}
	where := "renewal"
	if rep.Job == nil {
		where = "last renewal"
	}
	fmt.Fprintf(b, "\n%s job: %s, %d error%s", where, map[bool]string{true: "finished", false: "not finished"}[j.Finished], j.Errors, plural(j.Errors))
	if !j.NextRun.IsZero() && !j.Finished {
		b.WriteString(", next run " + dateRel(j.NextRun.Time, rep.Now))
	}
	b.WriteString("\n")
	n := len(j.Log.Entries)
	for i, e := range j.Log.Entries {
		if i == maxDetailLog {
			fmt.Fprintf(b, "  ... %d older entries (md-status --json %s | jq .renewal.log)\n", n-maxDetailLog, rep.Name)
			break
		}
		line := e.When.UTC().Format("2006-01-02 15:04:05") + "  " + e.Type
		if e.Status != "" {
			line += " [" + e.Status + "]"
		}
		if e.Detail != "" {
			line += "  " + e.Detail
		}
		b.WriteString("  " + line + "\n")
	}
}

// writeDetailNext writes what the next md-order, md-install and md-staple
// runs will do, with the plan's warning and a hint for a failing job.
func (rep *Report) writeDetailNext(b *strings.Builder, staplingWindow md.Timeslice) {
	p := rep.Plan(staplingWindow)
	b.WriteString("\nnext steps\n")
	for _, s := range []struct {
		name string
		st   Step
	}{{"md-order", p.Order}, {"md-install", p.Install}, {"md-staple", p.Staple}} {
		due := ""
		if !s.st.Due.IsZero() {
			due = " (due " + relTime(s.st.Due, rep.Now) + ")"
		}
		fmt.Fprintf(b, "  %-12s%-9s %s%s\n", s.name, s.st.Action, s.st.Reason, due)
	}
	if p.Warn != "" {
		fmt.Fprintf(b, "  %-12s%s\n", "warning", p.Warn)
	}
	if rep.Job != nil && rep.Job.Failing() {
		fmt.Fprintf(b, "  %-12s%s\n", "hint", "fix the cause in the log above, then md-order --force retries at once instead of after the backoff")
	}
}

func (rep *Report) writeCert(b *strings.Builder, c Cert) {
	fmt.Fprintf(b, "  %s\n", c.Key)
	kv := func(k, v string) { fmt.Fprintf(b, "    %-12s%s\n", k+":", v) }
	kv("file", c.File)
	switch {
	case c.Bad:
		kv("error", "unreadable (see above)")
		return
	case c.Info == nil:
		kv("missing", "no certificate yet")
		return
	}
	ci := c.Info
	kv("key type", KeyType(ci))
	kv("serial", ci.Serial)
	days := DaysLeft(ci.NotAfter, rep.Now)
	left := fmt.Sprintf("%d days left", days)
	if days < 0 {
		left = fmt.Sprintf("EXPIRED %d days ago", -days)
	}
	kv("valid", ci.NotBefore.Format("2006-01-02 15:04:05")+" to "+ci.NotAfter.Format("2006-01-02 15:04:05")+" UTC ("+left+")")
	kv("names", strings.Join(renew.SANNames(ci.Cert), ", "))
	kv("issuer", ci.IssuerName)
	kv("sha256", ci.SHA256)
	if c.OCSP != nil {
		o := "OCSP " + c.OCSP.Status
		if !c.OCSP.Valid.Until.IsZero() {
			o += ", response valid until " + c.OCSP.Valid.Until.UTC().Format("2006-01-02 15:04:05") + " UTC"
		}
		kv("ocsp", o)
	}
	if e := c.Revoked; e != nil {
		kv("revoked", fmt.Sprintf("%s (%s, code %d) at %s by the %s (md-order revoke); renewal due",
			e.Serial, e.Reason, e.ReasonCode, e.At.UTC().Format("2006-01-02 15:04:05")+" UTC", e.By))
	}
}

// KeyType names a certificate's public key: "RSA 2048", "EC P-256".
func KeyType(ci *CertInfo) string {
	switch k := ci.Cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return ci.Cert.PublicKeyAlgorithm.String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// dateRel prints a time with how far it is: "2027-02-03 10:00 UTC (in 58 days)".
func dateRel(t, now time.Time) string {
	return t.UTC().Format("2006-01-02 15:04") + " UTC (" + relTime(t, now) + ")"
}

// relTime is Roughly with days instead of a date: "in 58 days", "2 hours ago".
func relTime(t, now time.Time) string {
	if d := t.Sub(now); d >= 4*md.Day {
		return fmt.Sprintf("in %d days", int(d/md.Day))
	} else if d <= -4*md.Day {
		return fmt.Sprintf("%d days ago", int(-d/md.Day))
	}
	return Roughly(t, now)
}
