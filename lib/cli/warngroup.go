package cli

import (
	"strings"
	"sync"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
)

// GroupedWarnings is how many warnings (or failures) saying the same about
// different MDs are shown in full before the rest are counted: the same
// number as logger.Alike's, so that every stage's count reads alike.
const GroupedWarnings = logger.AlikeShown

// WarnConfig logs a config's warnings (md-parse). Warnings that say the
// same thing about different MDs (the same text after the first word, the
// MD's name) are shown in full GroupedWarnings times; the others like them
// are shown with -v and counted in one warning line, so that a config of
// 10,000 MDs that all lack the same setting gives a cron mail of a few
// lines, not of 10,000.
func WarnConfig(log *Logger, ws []md.ConfigError) {
	cw := NewConfigWarner(log)
	for _, w := range ws {
		cw.Warn(w)
	}
	cw.Done()
}

// ConfigWarner is WarnConfig one warning at a time (md-parse's run memo
// replays 100,000 warnings without holding them all).
type ConfigWarner struct {
	log   *Logger
	count map[string]int
	order []string
}

// NewConfigWarner starts a WarnConfig.
func NewConfigWarner(log *Logger) *ConfigWarner {
	return &ConfigWarner{log: log, count: map[string]int{}}
}

// Warn logs one warning, or counts it when GroupedWarnings like it were
// shown.
func (cw *ConfigWarner) Warn(w md.ConfigError) {
	key := warnKey(w.Msg)
	cw.count[key]++
	switch n := cw.count[key]; {
	case n == 1:
		cw.order = append(cw.order, key)
		fallthrough
	case n <= GroupedWarnings:
		cw.log.Warnf("%s", w.Error())
	case cw.log.Verbose > 0:
		cw.log.Infof("warning: %s", w.Error())
	}
}

// Done logs the counts of the warnings not shown.
func (cw *ConfigWarner) Done() {
	for _, key := range cw.order {
		if n := cw.count[key] - GroupedWarnings; n > 0 {
			cw.log.Warnf("%d more MDs with the warning %q (-v lists them)", n, "<name> "+key)
		}
	}
}

// warnKey is a warning without its first word (the MD's name); a warning
// of one word is its own key.
func warnKey(msg string) string {
	if _, rest, ok := strings.Cut(msg, " "); ok {
		return rest
	}
	return msg
}

// lockedSkips reports the MDs a run skipped because another run holds
// their lock: GroupedWarnings named, the others counted at the end (-v
// names each), so that two runs over 100,000 MDs that overlap do not
// print 100,000 lines.
type lockedSkips struct {
	log *Logger
	mu  sync.Mutex
	n   int
}

func (l *lockedSkips) skip(name string) {
	l.mu.Lock()
	l.n++
	n := l.n
	l.mu.Unlock()
	if n <= GroupedWarnings || l.log.Verbose > 0 {
		l.log.Warnf("%s: skipped: another run holds its lock", name)
	}
}

// count is the MDs skipped, after a warning for those not named.
func (l *lockedSkips) count() int {
	if more := l.n - GroupedWarnings; more > 0 && l.log.Verbose == 0 {
		l.log.Warnf("%d more MDs skipped: another run holds their locks (-v names each)", more)
	}
	return l.n
}
