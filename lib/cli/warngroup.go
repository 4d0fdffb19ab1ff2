package cli

import (
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// GroupedWarnings is how many warnings saying the same about different
// MDs WarnConfig shows in full before it counts the rest.
const GroupedWarnings = 3

// WarnConfig logs a config's warnings (md-parse). Warnings that say the
// same thing about different MDs (the same text after the first word, the
// MD's name) are shown in full GroupedWarnings times; the others like them
// are shown with -v and counted in one warning line, so that a config of
// 10,000 MDs that all lack the same setting gives a cron mail of a few
// lines, not of 10,000.
func WarnConfig(log *Logger, ws []md.ConfigError) {
	count := map[string]int{}
	var order []string
	for _, w := range ws {
		key := warnKey(w.Msg)
		count[key]++
		if count[key] == 1 {
			order = append(order, key)
		}
		if count[key] <= GroupedWarnings {
			log.Warnf("%s", w.Error())
		} else {
			log.Infof("warning: %s", w.Error())
		}
	}
	for _, key := range order {
		if n := count[key] - GroupedWarnings; n > 0 {
			log.Warnf("%d more MDs with the warning %q (-v lists them)", n, "<name> "+key)
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
