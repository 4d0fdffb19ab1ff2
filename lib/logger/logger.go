// Package logger declares the one interface through which library packages
// report progress and decisions to a human. Commands pass *cli.Logger
// (stderr, "md-order: warning: ..."); lib packages import this package
// instead of lib/cli, so they need no urfave/cli. Callers pass redacted
// values only: a logger never sees secrets.
package logger

// Logger receives progress (Infof, shown with -v), detail (Debugf, -vv)
// and warnings (Warnf, always shown).
type Logger interface {
	Infof(format string, args ...any)
	Debugf(format string, args ...any)
	Warnf(format string, args ...any)
}

// Nop discards every message.
type Nop struct{}

func (Nop) Infof(string, ...any)  {}
func (Nop) Debugf(string, ...any) {}
func (Nop) Warnf(string, ...any)  {}

// Or returns l, or Nop when l is nil, so that options may leave it unset.
func Or(l Logger) Logger {
	if l == nil {
		return Nop{}
	}
	return l
}
