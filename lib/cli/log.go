package cli

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mdtools/mdtools/lib/logger"
)

// Logger writes human messages to stderr, prefixed with the command name,
// in the style "md-order: error: ..." / "md-order: hint: ...". It never sees
// secrets: callers pass redacted values.
type Logger struct {
	name    string
	w       io.Writer
	mu      sync.Mutex
	Verbose int
}

// Logger is the implementation of the lib packages' logger.Logger.
var _ logger.Logger = (*Logger)(nil)

// NewLogger logs for command name to w.
func NewLogger(name string, w io.Writer) *Logger { return &Logger{name: name, w: w} }

func (l *Logger) printf(kind, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s: %s%s\n", l.name, kind, fmt.Sprintf(format, args...))
}

// Infof is shown with -v.
func (l *Logger) Infof(format string, args ...any) {
	if l.Verbose > 0 {
		l.printf("", format, args...)
	}
}

// Debugf is shown with -vv.
func (l *Logger) Debugf(format string, args ...any) {
	if l.Verbose > 1 {
		l.printf("debug: ", format, args...)
	}
}

// Warnf is always shown.
func (l *Logger) Warnf(format string, args ...any) { l.printf("warning: ", format, args...) }

// Error prints an error and, if it carries one, its hint.
func (l *Logger) Error(err error) {
	l.printf("error: ", "%v", err)
	var h *Hinted
	if errors.As(err, &h) && h.Hint != "" {
		l.printf("hint: ", "%s", h.Hint)
	}
}

// Errorf prints an error line.
func (l *Logger) Errorf(format string, args ...any) { l.printf("error: ", format, args...) }
