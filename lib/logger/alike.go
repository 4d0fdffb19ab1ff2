package logger

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// AlikeShown is how many warnings of one Shape Alike shows in full.
const AlikeShown = 3

// Alike is a Logger for warnings about MDs, "<md>: ...": a cause shared
// by many (a CA or a responder that is down, a notify command that fails,
// a CA that does not know the certificates) gives a few lines, not one per
// MD. It shows AlikeShown warnings of each Shape in full (the MD's name
// taken as the message's text before its first ": "), logs the others
// with Infof (-v) and counts them for Done. Infof and Debugf pass through.
// Safe for concurrent use.
type Alike struct {
	Log   Logger
	mu    sync.Mutex
	count map[string]int
	order []string
}

func (a *Alike) Infof(format string, args ...any)  { Or(a.Log).Infof(format, args...) }
func (a *Alike) Debugf(format string, args ...any) { Or(a.Log).Debugf(format, args...) }

// Warnf logs the warning, or counts it when AlikeShown like it were shown.
func (a *Alike) Warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	name, _, _ := strings.Cut(msg, ": ")
	key := Shape(name, msg)
	a.mu.Lock()
	if a.count == nil {
		a.count = map[string]int{}
	}
	a.count[key]++
	n := a.count[key]
	if n == 1 {
		a.order = append(a.order, key)
	}
	a.mu.Unlock()
	if n <= AlikeShown {
		Or(a.Log).Warnf("%s", msg)
	} else {
		Or(a.Log).Infof("%s", msg)
	}
}

// Done logs, for each Shape with more warnings than were shown, how many
// more MDs had it.
func (a *Alike) Done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, key := range a.order {
		if n := a.count[key] - AlikeShown; n > 0 {
			Or(a.Log).Warnf("%d more MDs warned alike: %s (-v names each)", n, key)
		}
	}
	a.count, a.order = nil, nil
}

// Shape is a message about an MD with what differs between MDs that fail
// or warn alike made a placeholder: the MD's name, certificate IDs and
// serials (16 hex digits or more, or an ARI certificate ID), clock times,
// and a circuit breaker's count of requests in a row (lib/breaker).
func Shape(name, msg string) string {
	if name != "" {
		msg = replaceName(msg, name)
	}
	for _, v := range volatile {
		msg = v.re.ReplaceAllString(msg, v.with)
	}
	return msg
}

var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	// an ARI certificate ID: base64url(AKI) "." base64url(serial)
	{regexp.MustCompile(`\b[A-Za-z0-9_-]{22,}\.[A-Za-z0-9_-]{2,}\b`), "<id>"},
	{regexp.MustCompile(`\b[0-9a-fA-F]{16,}\b`), "<id>"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`), "<time>"},
	{regexp.MustCompile(`\b\d+ requests in a row\b`), "<n> requests in a row"},
}

// replaceName makes each mention of the name in msg "<name>", but not a
// part of a longer name (a.test in ca.test or a.test.org).
func replaceName(msg, name string) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, name)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(name)
		whole := (i == 0 || !nameByte(msg[i-1]) && msg[i-1] != '.') &&
			(end == len(msg) || !nameByte(msg[end]) && !(msg[end] == '.' && end+1 < len(msg) && nameByte(msg[end+1])))
		b.WriteString(msg[:i])
		if whole {
			b.WriteString("<name>")
		} else {
			b.WriteString(name)
		}
		msg = msg[end:]
	}
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
