package renew

import (
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// MaxRetryDelay caps the backoff of orders and of OCSP requests alike, as
// mod_md does (daily).
const MaxRetryDelay = 24 * time.Hour

// Backoff is the delay before the next attempt after errors consecutive
// failures, for renewal jobs and for OCSP requests alike: mod_md computes
// both with md_job_delay_on_errors (src/md_status.c; src/md_ocsp.c calls it
// with no problem). An input-related ACME problem waits MaxRetryDelay;
// otherwise base (MDRetryDelay, default 30 s) doubles per further failure,
// capped at MaxRetryDelay; then the delay is jittered by
// seconds(delay)*(c-128)/256 whole seconds for a random byte c (about
// ±50%; 128: none). No errors and no input problem: 0.
func Backoff(base time.Duration, errors int, problem string, c byte) time.Duration {
	var d time.Duration
	switch {
	case IsInputProblem(problem):
		d = MaxRetryDelay
	case errors > 0:
		if base <= 0 {
			base = 30 * time.Second
		}
		d = base
		for i := 1; i < errors; i++ {
			d <<= 1
			if d <= 0 || d > MaxRetryDelay {
				d = MaxRetryDelay
				break
			}
		}
		d = min(d, MaxRetryDelay)
	}
	if d <= 0 {
		return 0
	}
	secs := int64(d / time.Second)
	return d + time.Duration(secs*(int64(c)-128)/256)*time.Second
}

// OCSPState is what md-staple knows about one certificate before a run:
// its stored response (or CRL verdict), and the failed attempts since the
// last success with the earliest retry.
type OCSPState struct {
	HasResponse bool
	Valid       md.Period
	Errors      int       // consecutive failed attempts
	NextRun     time.Time // earliest retry after a failure
}

// OCSPRenewAt is when a response valid over [from, until] enters the
// stapling renew window (MDStaplingRenewWindow): mod_md's
// md_timeperiod_slice_before_end (src/md_ocsp.c, ostat->next_run).
func OCSPRenewAt(from, until time.Time, window md.Timeslice) time.Time {
	return window.Start(from, until)
}

// OCSPDue reports whether a certificate's OCSP response is to be fetched at
// now (src/md_ocsp.c: ostat->next_run <= now): it has no response yet, or
// its response is inside the renew window, and a failed attempt's backoff
// (if any) has passed. at is when it is (or was) due: the window's start
// or, later, the backoff's end; now without a response nor backoff.
func OCSPDue(now time.Time, st OCSPState, window md.Timeslice) (due bool, at time.Time) {
	at = now
	if st.HasResponse {
		at = OCSPRenewAt(st.Valid.From.Time, st.Valid.Until.Time, window)
	}
	if st.Errors > 0 && st.NextRun.After(at) {
		at = st.NextRun
	}
	return !now.Before(at), at
}

// StagedSet is what decides when md-install activates a finished staged
// set.
type StagedSet struct {
	// ValidFrom is the ready time md-order recorded (staging job.json
	// valid-from, ReadyAt); zero for a set staged without one.
	ValidFrom time.Time
	// NotBefore is the latest notBefore of the staged certificates.
	NotBefore time.Time
	// LiveNotAfter is the earliest notAfter of the live certificates, zero
	// when there is no complete live set.
	LiveNotAfter time.Time
	// Delay is MDActivationDelay.
	Delay time.Duration
}

// ActivateAt is when md-install activates a finished staged set ("ready to
// install"); md-install and md-status --plan both ask it. It is md-order's
// ready time (job valid-from: ReadyAt, mod_md's ready_at), never before the
// staged certificates' notBefore. A set staged without one (by hand, or by
// a tool that does not record it) gets ReadyAt as of its notBefore: notBefore
// plus MDActivationDelay while a live set is still valid, no later than the
// live set's expiry. (mod_md activates staged sets at the next restart
// without waiting; it only holds back the "renewed" event until ready_at,
// src/mod_md_drive.c. md-install waits, so that a restart between ordering
// and ready_at does not bring the new certificate forward.)
func ActivateAt(s StagedSet) time.Time {
	if !s.ValidFrom.IsZero() {
		return later(s.ValidFrom, s.NotBefore)
	}
	if s.Delay <= 0 || !s.LiveNotAfter.After(s.NotBefore) {
		return s.NotBefore
	}
	return ReadyAt(s.NotBefore, s.NotBefore, true, s.LiveNotAfter, s.Delay)
}

// ReadyToActivate reports whether md-install activates the staged set at
// now, and when it does.
func ReadyToActivate(now time.Time, s StagedSet) (bool, time.Time) {
	at := ActivateAt(s)
	return !now.Before(at), at
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
