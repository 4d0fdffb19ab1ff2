// Package apacheconf reads Apache httpd configuration the way httpd and
// mod_md do (Include, Define, IfModule, VirtualHost, all MD* directives)
// and derives the managed domains mod_md would manage.
package apacheconf

import (
	"errors"

	"github.com/mdtools/mdtools/lib/md"
)

// Options steer how the config is read.
type Options struct {
	Defines    []string // -D NAME (as httpd -D)
	Modules    []string // modules considered loaded for <IfModule>; nil: mod_md's set
	Version    string   // httpd version for <IfVersion>; "" = 2.4.66
	ServerRoot string   // overrides ServerRoot / the default (the config's directory)
}

// Load reads the config at path. Configuration problems come back as
// md.ConfigErrors ("file:line: message"), all of them, not just the first.
func Load(path string, opts Options) (*md.ParsedConfig, error) {
	return nil, errors.New("apacheconf: not implemented yet")
}
