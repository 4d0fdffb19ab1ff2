package md

import (
	"fmt"
	"strings"
)

// ConfigError is one problem in a configuration file, printed as
// "file:line: message" like a compiler error.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ConfigErrors collects every problem found in one run, so an operator
// fixes them all at once instead of one per run.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Add appends a problem.
func (es *ConfigErrors) Add(file string, line int, format string, args ...any) {
	*es = append(*es, ConfigError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Err returns nil when empty, else the list.
func (es ConfigErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// ParsedConfig is what a config reader (Apache or md.toml) produces.
type ParsedConfig struct {
	Records  []*Record // one per MD, sorted by name
	Warnings []ConfigError
	StoreDir string // MDStoreDir / store-dir, absolute; "" if not configured
	// DefaultStoreDir is the store the config's own server uses when
	// none is configured: for Apache, mod_md's "md" under ServerRoot;
	// "" for md.toml (mdtools' default applies).
	DefaultStoreDir string
}
