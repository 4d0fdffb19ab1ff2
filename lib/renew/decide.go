package renew

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// Input is everything a renewal decision looks at.
type Input struct {
	Now    time.Time
	MD     *md.MD
	Certs  []Cert  // the live certificates, one per effective key spec
	Job    *md.Job // the renewal job (staging/<md>/job.json), nil if none
	Staged bool    // a finished, complete set is already in staging/
	Force  bool    // --force
	// Revoked: md-staple found a live certificate revoked (OCSP or CRL);
	// mod_md renews such an MD at once (md_reg_has_revoked_certs).
	Revoked bool
	// Revocations are the certificates md-order revoke revoked
	// (revoked-<md>.json); a live one among them makes the MD due at once.
	Revocations *md.Revocations
	// ARI is the CA's suggested renewal window for the current
	// certificates, nil when ARI is off, unsupported or unknown.
	ARI *Window
	// Rand is the random byte that picks the ARI point (mod_md's c).
	Rand byte
}

// Window is an ARI suggested window (RFC 9773).
type Window struct {
	Start, End     time.Time
	ExplanationURL string
}

// Actions of a Decision.
const (
	Renew  = "renew"  // order new certificates now
	None   = "none"   // nothing due
	Staged = "staged" // a finished set waits in staging for md-install
)

// Decision says what md-order does with an MD and why.
type Decision struct {
	Action  string
	Reason  string
	RenewAt time.Time // when the renew window starts (zero: now/unknown)
	// NextRun is when to look again, if earlier than the normal check
	// (ARI point within 24 h, or the backoff).
	NextRun time.Time
	ViaARI  bool // renewal triggered by the CA's ARI window
}

// Decide applies mod_md's rules (spec §3.1, §3.3–3.5) in this order:
// renew mode manual and static files in auto mode never renew (unless
// forced); a finished staged set is not ordered again (unless forced); a
// job in backoff waits for its next-run (unless forced); an incomplete
// state renews now; then the renew window; then ARI.
func Decide(in Input) Decision {
	m := in.MD
	d := Decision{}
	state, descr := State(m, in.Certs)
	if state == md.StateComplete {
		d.RenewAt = RenewAt(m.EffectiveRenewWindow(), in.Certs)
	}
	if in.Force {
		d.Action, d.Reason = Renew, "forced (--force)"
		return d
	}
	switch {
	case m.RenewMode == md.RenewManual:
		d.Action, d.Reason = None, "renew mode is manual (MDRenewMode manual)"
		return d
	case len(m.CertFiles) > 0 && m.RenewMode != md.RenewAlways:
		d.Action, d.Reason = None, "static certificate files (MDCertificateFile) are not renewed in auto mode"
		return d
	case in.Staged:
		d.Action, d.Reason = Staged, "a new certificate set is already staged and waits for md-install"
		return d
	}
	if in.Job != nil && !in.Job.NextRun.IsZero() && in.Now.Before(in.Job.NextRun.Time) {
		d.Action = None
		d.Reason = "waiting until " + in.Job.NextRun.UTC().Format(http.TimeFormat) + " before the next attempt"
		if in.Job.Errors > 0 {
			d.Reason += fmt.Sprintf(" (backoff after %d errors)", in.Job.Errors)
		}
		d.NextRun = in.Job.NextRun.Time
		return d
	}
	if state != md.StateComplete {
		d.Action, d.Reason = Renew, descr
		return d
	}
	if in.Revoked {
		d.Action, d.Reason = Renew, "a live certificate is revoked (OCSP or CRL, as md-staple recorded)"
		return d
	}
	if r, ok := RevokedLive(in.Certs, in.Revocations); ok {
		d.Action, d.Reason = Renew, revokedReason(r)
		return d
	}
	if !d.RenewAt.After(in.Now) {
		d.Action, d.Reason = Renew, "renew window reached (renew-at "+d.RenewAt.UTC().Format(http.TimeFormat)+")"
		return d
	}
	if in.ARI != nil {
		at := ARIPick(in.ARI.Start, in.ARI.End, in.Rand)
		switch {
		case !at.After(in.Now):
			d.Action, d.ViaARI = Renew, true
			d.Reason = "renewal triggered by CA via ARI"
			if in.ARI.ExplanationURL != "" {
				d.Reason += ", explanation at " + in.ARI.ExplanationURL
			}
			return d
		case at.Before(d.RenewAt) && at.Sub(in.Now) < 24*time.Hour:
			d.NextRun = at
		}
	}
	d.Action, d.Reason = None, "not due before "+d.RenewAt.UTC().Format(http.TimeFormat)
	return d
}

// ARIPick is the point in an ARI window at which to renew: start +
// (end-start)*c/256 for a random byte c, uniform over the window as RFC 9773
// §4.2 asks. (mod_md uses (c-128)/256, which can land up to half a window
// before start; see spec §10.5.) An empty or inverted window gives start.
func ARIPick(start, end time.Time, c byte) time.Time {
	if !end.After(start) {
		return start
	}
	return start.Add(time.Duration(int64(end.Sub(start)) / 256 * int64(c)))
}

// ARIByte is the random byte that picks md-order's renewal point in an ARI
// window (ARIPick): derived from the MD and the window, so that every run
// (and md-status --plan) picks the same point (RFC 9773 §4.2) while
// different MDs spread over the window.
func ARIByte(name string, w *Window) byte {
	sum := sha256.Sum256([]byte(name + "\x00" + w.Start.UTC().String() + "\x00" + w.End.UTC().String()))
	return sum[0]
}

// inputProblems are the ACME problems mod_md treats as caused by the input
// (configuration), retried only after 24 h (src/md_acme.c Problems[]).
var inputProblems = map[string]bool{
	"acme:error:agreementRequired":       true,
	"acme:error:badCSR":                  true,
	"acme:error:badSignatureAlgorithm":   true,
	"acme:error:externalAccountRequired": true,
	"acme:error:invalidContact":          true,
	"acme:error:unsupportedContact":      true,
	"acme:error:malformed":               true,
	"acme:error:rejectedIdentifier":      true,
	"acme:error:unsupportedIdentifier":   true,
	"acme:error:userActionRequired":      true,
	"acme:error:badRevocationReason":     true,
}

// IsInputProblem reports whether an ACME problem type (with or without the
// "urn:ietf:params:" prefix) is input-related.
func IsInputProblem(problem string) bool {
	return inputProblems[strings.TrimPrefix(problem, "urn:ietf:params:")]
}

// MaxRetryAfter caps how long a CA's Retry-After can postpone the next
// attempt: mod_md's longest wait between two attempts (MaxRetryDelay). A
// larger value (a broken CA or proxy once asked for ten years) would stop
// renewal for good; retrying once a day against a rate limit costs one
// request.
const MaxRetryAfter = MaxRetryDelay

// CapRetryAfter limits a CA's Retry-After time to now + MaxRetryAfter and
// reports whether it did.
func CapRetryAfter(now, retryAfter time.Time) (time.Time, bool) {
	if max := now.Add(MaxRetryAfter); retryAfter.After(max) {
		return max, true
	}
	return retryAfter, false
}

// NextRun is when a failed job may run again: now + Backoff, but never
// before a CA's Retry-After (rateLimited and friends), itself capped at
// now + MaxRetryAfter.
func NextRun(now time.Time, base time.Duration, errors int, problem string, retryAfter time.Time, c byte) time.Time {
	next := now.Add(Backoff(base, errors, problem, c))
	retryAfter, _ = CapRetryAfter(now, retryAfter)
	if retryAfter.After(next) {
		next = retryAfter
	}
	return next
}

// ReadyAt is when newly issued certificates count as ready (spec §3.7,
// mod_md's src/md_acme_drive.c acme_renew, label "ready"): the latest
// notBefore (at least now); if the MD had a complete, still valid set, plus
// MDActivationDelay, the delay cut to the time the old set has left. A
// negative delay (mod_md's test hook) gives now + 1 s for a complete MD.
// md-order records it as the job's valid-from; ActivateAt reads it back.
func ReadyAt(now, newNotBefore time.Time, wasComplete bool, oldNotAfter time.Time, delay time.Duration) time.Time {
	at := now
	if newNotBefore.After(at) {
		at = newNotBefore
	}
	if delay < 0 {
		if wasComplete {
			return now.Add(time.Second)
		}
		return at
	}
	if wasComplete && oldNotAfter.After(now) && delay > 0 {
		left := oldNotAfter.Sub(now)
		if delay > left {
			delay = left
		}
		at = at.Add(delay)
	}
	return at
}

// ShouldWarn reports whether the warn window (MDWarnWindow, default 10%)
// has started for any of the certificates while no finished renewal is
// waiting: the condition of mod_md's "expiring" event (spec §3.2).
func ShouldWarn(now time.Time, m *md.MD, certs []Cert, jobFinished bool) bool {
	if jobFinished || len(certs) == 0 {
		return false
	}
	w := m.EffectiveWarnWindow()
	for _, c := range certs {
		if c.Leaf == nil {
			return false // incomplete: renewal, not a warning
		}
	}
	at := RenewAt(w, certs)
	return !at.After(now)
}

// FailoverIndex picks which of n CAs to use for an attempt after errors
// consecutive failures (spec §3.6): the first CA until errors reaches
// failover, then the next one on every further failing attempt, wrapping.
// This equals mod_md's "move on from the CA of the staged attempt".
func FailoverIndex(n, errors, failover int) int {
	if n <= 1 || errors < failover || failover < 1 {
		return 0
	}
	return (errors - failover + 1) % n
}
