package status

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ChooseView picks the view from the view flags (set reports whether one
// was given) and where stdout goes: JSON in a pipe; on a terminal the table,
// or for one NAME the per-MD text. views counts the view flags given, so the
// command can refuse more than one; --table with --plan is the plan as text,
// not a second view.
func ChooseView(set func(flag string) bool, tty, named bool) (view View, views int) {
	view = ViewJSON
	if tty {
		view = ViewTable
	}
	for _, f := range []struct {
		flag string
		v    View
	}{{"json", ViewJSON}, {"plan", ViewPlan}, {"metrics", ViewMetrics},
		{"server-status", ViewServerStatus}, {"html", ViewHTML}, {"text", ViewDetail}} {
		if set(f.flag) {
			views++
			view = f.v
		}
	}
	if set("table") {
		if view == ViewPlan {
			view = ViewPlanText
		} else {
			views++
			view = ViewTable
		}
	} else if view == ViewPlan && tty {
		view = ViewPlanText
	}
	if named && tty && views == 0 {
		view = ViewDetail
	}
	return view, views
}

// ParseCertCheck reads MDCertificateCheck's value, "NAME URL".
func ParseCertCheck(s string) (CertCheck, error) {
	name, url, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || name == "" || strings.TrimSpace(url) == "" {
		return CertCheck{}, fmt.Errorf("wants \"NAME URL\", got %q", s)
	}
	return CertCheck{Name: name, URL: strings.TrimSpace(url)}, nil
}

// ParseColor decides whether the table is coloured: when is auto (on a
// terminal unless $NO_COLOR is set), always or never.
func ParseColor(when string, tty bool, noColor string) (bool, error) {
	switch when {
	case "auto":
		return tty && noColor == "", nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, fmt.Errorf("wants auto, always or never, got %q", when)
}

// ParseTime reads a --now time: RFC 3339, RFC 822 (HTTP) or a date.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, http.TimeFormat, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2026-11-28T14:00:00Z", s)
}
