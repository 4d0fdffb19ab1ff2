package staple

import (
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// MaxRetryDelay caps the backoff, as mod_md does (daily).
const MaxRetryDelay = 24 * time.Hour

// State is what is known about one certificate before a run: the stored
// response (if any) and the failed attempts since the last success.
type State struct {
	HasResponse bool
	Valid       md.Period
	Errors      int       // consecutive failed attempts
	NextRun     time.Time // earliest retry after a failure
}

// RenewAt is when a response valid over [from, until] enters the renew
// window: mod_md's md_timeperiod_slice_before_end.
func RenewAt(from, until time.Time, window md.Timeslice) time.Time {
	return window.Start(from, until)
}

// Due reports whether a certificate needs a request now: it has no
// response yet, or its response is inside the renew window, and a failed
// attempt's backoff (if any) has passed. renewAt is zero without a
// response.
func Due(now time.Time, st State, window md.Timeslice) (due bool, renewAt time.Time) {
	if st.HasResponse {
		renewAt = RenewAt(st.Valid.From.Time, st.Valid.Until.Time, window)
		if now.Before(renewAt) {
			return false, renewAt
		}
	}
	if st.Errors > 0 && now.Before(st.NextRun) {
		return false, renewAt
	}
	return true, renewAt
}

// Backoff is the delay before the next attempt after errors consecutive
// failures: MDRetryDelay doubled per further failure, capped at a day,
// then jittered by (jitter-128)/256 of itself (mod_md's ±50%); jitter is a
// random byte, 128 means none.
func Backoff(minDelay time.Duration, errors int, jitter byte) time.Duration {
	if errors <= 0 {
		return 0
	}
	if minDelay <= 0 {
		minDelay = 30 * time.Second
	}
	d := minDelay
	for i := 0; i < errors-1; i++ {
		d <<= 1
		if d <= 0 || d > MaxRetryDelay {
			d = MaxRetryDelay
			break
		}
	}
	if d > MaxRetryDelay {
		d = MaxRetryDelay
	}
	secs := int64(d / time.Second)
	return d + time.Duration(secs*(int64(jitter)-128)/256)*time.Second
}
