package md

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Time is a point in time serialised as mod_md does: RFC 822 in GMT,
// "Sat, 28 Nov 2026 14:43:33 GMT". The zero Time is omitted with `omitzero`.
type Time struct{ time.Time }

// NewTime truncates t to whole seconds, the precision mod_md keeps.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Second)} }

// MarshalJSON writes the RFC 822 GMT form.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	return json.Marshal(t.UTC().Format(http.TimeFormat))
}

// UnmarshalJSON accepts the RFC 822 GMT form and, for robustness, RFC 3339.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a date string like %q", http.TimeFormat)
	}
	if s == "" {
		*t = Time{}
		return nil
	}
	for _, layout := range []string{http.TimeFormat, time.RFC1123Z, time.RFC3339} {
		if v, err := time.Parse(layout, s); err == nil {
			*t = Time{v.UTC()}
			return nil
		}
	}
	return fmt.Errorf("%q is not a date like %q", s, http.TimeFormat)
}

// Period is mod_md's {"from": ..., "until": ...} validity span.
type Period struct {
	From  Time `json:"from,omitzero"`
	Until Time `json:"until,omitzero"`
}
