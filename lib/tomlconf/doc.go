// Package tomlconf reads md.toml, the configuration file for hosts without
// Apache: global defaults plus one [[domain]] table per MD, with the same
// settings and semantics as mod_md's MD* directives.
package tomlconf

import (
	"errors"

	"github.com/BurntSushi/toml"
	"github.com/mdtools/mdtools/lib/md"
)

var _ toml.Primitive // the reader is built on BurntSushi/toml

// Load reads md.toml at path. Problems come back as md.ConfigErrors.
func Load(path string) (*md.ParsedConfig, error) {
	return nil, errors.New("tomlconf: not implemented yet")
}
