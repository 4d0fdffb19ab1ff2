package cli

import (
	"fmt"
	"regexp"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/mdtools/mdtools/lib/md"
)

// invalidValue matches the flag package's "invalid value "5" for flag
// -timeout: parse error" (and the boolean variant).
var invalidValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-{1,2}([^:\s]+): (.*)$`)

// explainFlagError turns the flag package's terse errors into ones an
// operator can act on: which flag, what kind of value, the nearest flag
// name for a typo. Other errors come back unchanged.
func explainFlagError(err error, flags []ucli.Flag) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		e := fmt.Errorf("unknown flag %s", dashed(name))
		if s := suggestFlag(name, flags); s != "" {
			return &Hinted{Err: e, Hint: "did you mean " + dashed(s) + "? (--help lists the flags)"}
		}
		return &Hinted{Err: e, Hint: "--help lists the flags"}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Errorf("%s needs a value", dashed(strings.TrimLeft(name, "-")))
	}
	m := invalidValue.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	value, name := m[1], m[2]
	switch findFlag(flags, name).(type) {
	case *ucli.DurationFlag:
		if value != "" && strings.Trim(value, "0123456789.") == "" {
			return fmt.Errorf("%s %s: a duration needs a unit, like %ss or %sm", dashed(name), value, value, value)
		}
		return fmt.Errorf("%s %s: not a duration; write it like 30s, 5m or 1h30m", dashed(name), value)
	case *ucli.IntFlag, *ucli.Int64Flag, *ucli.UintFlag:
		return fmt.Errorf("%s %s: not a whole number", dashed(name), value)
	case *ucli.BoolFlag:
		return fmt.Errorf("%s=%s: want true or false (or the flag alone)", dashed(name), value)
	}
	return fmt.Errorf("%s %s: %s", dashed(name), value, m[3])
}

// dashed writes a flag name as typed: -v, --store.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func findFlag(flags []ucli.Flag, name string) ucli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// suggestFlag is the defined flag name nearest to a mistyped one.
func suggestFlag(typed string, flags []ucli.Flag) string {
	var names []string
	for _, f := range append(append([]ucli.Flag{}, flags...), ucli.HelpFlag, ucli.VersionFlag) {
		if f == nil {
			continue
		}
		for _, n := range f.Names() {
			if len(n) > 1 {
				names = append(names, n)
			}
		}
	}
	return Nearest(typed, names)
}

// Nearest is the name in names that typed most likely meant: the one name
// it abbreviates (at least 3 letters), else the closest by edit distance
// if that is close enough to be a typo (at most 2 edits, or a third of
// the word); "" if none is.
func Nearest(typed string, names []string) string {
	var prefixed []string
	for _, n := range names {
		if len(typed) >= 3 && strings.HasPrefix(n, typed) {
			prefixed = append(prefixed, n)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	best, bestD := "", -1
	for _, n := range names {
		d := md.EditDistance(strings.ToLower(typed), n, len(typed)+len(n)+1)
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if bestD < 0 || bestD > max(2, len(typed)/3) || bestD >= len(typed) {
		return ""
	}
	return best
}
