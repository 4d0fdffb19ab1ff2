package md

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is the length of a mod_md day.
const Day = 24 * time.Hour

// ParseDuration parses mod_md's duration syntax: an integer followed by a
// unit d, h, mi, s or ms (case-insensitive; mod_md looks only at the first
// letter, or the first two for "m"). A bare integer takes defUnit. Negative
// numbers parse, as in mod_md.
func ParseDuration(s string, defUnit time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	numPart, unit := s[:i], strings.ToLower(s[i:])
	n, err := strconv.ParseInt(numPart, 10, 64)
	if err != nil || numPart == "" {
		return 0, fmt.Errorf("duration %q has unrecognized format", s)
	}
	var u time.Duration
	switch {
	case unit == "":
		u = defUnit
	case unit[0] == 'd':
		u = Day
	case unit[0] == 'h':
		u = time.Hour
	case strings.HasPrefix(unit, "mi"):
		u = time.Minute
	case strings.HasPrefix(unit, "ms"):
		u = time.Millisecond
	case unit[0] == 's':
		u = time.Second
	default:
		return 0, fmt.Errorf("duration %q has unrecognized format", s)
	}
	const limit = 1 << 40 // keep n*u far from int64 overflow
	if n > limit || n < -limit {
		return 0, fmt.Errorf("duration %q is out of range", s)
	}
	return time.Duration(n) * u, nil
}

// FormatDuration prints a duration in the largest unit that divides it
// exactly, as mod_md's duration_format does: "14d", "12h", "30mi", "45s",
// "500ms".
func FormatDuration(d time.Duration) string {
	switch {
	case d%Day == 0:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "mi"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
}

// Timeslice is a window before the end of a period: either a percentage of
// the period's length or an absolute duration ("33%", "14d").
type Timeslice struct {
	Percent  int           // used when IsPercent
	Duration time.Duration // used otherwise
	// IsPercent tells which of the two is meant.
	IsPercent bool
}

// ErrWindowTooLarge is mod_md's rejection of windows of 100% or more.
var ErrWindowTooLarge = errors.New("a length of 100% or more is not allowed.")

// ParseTimeslice parses a window; bare numbers take defUnit.
func ParseTimeslice(s string, defUnit time.Duration) (Timeslice, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return Timeslice{}, fmt.Errorf("percentage %q has unrecognized format", s)
		}
		if n >= 100 {
			return Timeslice{}, ErrWindowTooLarge
		}
		return Timeslice{Percent: n, IsPercent: true}, nil
	}
	d, err := ParseDuration(s, defUnit)
	if err != nil {
		return Timeslice{}, err
	}
	return Timeslice{Duration: d}, nil
}

// MustTimeslice parses a constant window; it panics on a bad literal.
func MustTimeslice(s string) Timeslice {
	ts, err := ParseTimeslice(s, Day)
	if err != nil {
		panic(err)
	}
	return ts
}

// String prints the mod_md form.
func (ts Timeslice) String() string {
	if ts.IsPercent {
		return strconv.Itoa(ts.Percent) + "%"
	}
	return FormatDuration(ts.Duration)
}

// Length is the window's length for a period of the given length.
func (ts Timeslice) Length(period time.Duration) time.Duration {
	if ts.IsPercent {
		// Whole seconds, as mod_md computes life_seconds * percent / 100.
		return time.Duration(int64(period/time.Second)*int64(ts.Percent)/100) * time.Second
	}
	return ts.Duration
}

// Start is when the window starts for the period [from, until].
func (ts Timeslice) Start(from, until time.Time) time.Time {
	return until.Add(-ts.Length(until.Sub(from)))
}

// MarshalText is the string form mod_md stores ("33%", "14d"), which
// encoding/json writes as a JSON string. (Text, not JSON: encoding/json
// re-validates every MarshalJSON result, a third of a record's encoding.)
func (ts Timeslice) MarshalText() ([]byte, error) { return []byte(ts.String()), nil }

// UnmarshalJSON reads the string form (default unit days).
func (ts *Timeslice) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a window string like \"33%%\" or \"14d\"")
	}
	v, err := ParseTimeslice(s, Day)
	if err != nil {
		return err
	}
	*ts = v
	return nil
}
