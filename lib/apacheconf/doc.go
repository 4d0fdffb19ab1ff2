// Package apacheconf reads Apache httpd configuration the way httpd and
// mod_md do (Include, Define, IfModule, VirtualHost, all MD* directives)
// and derives the managed domains mod_md would manage.
//
// Reading follows httpd: case-insensitive directive names, quoting and
// backslash escapes, "\" line continuations, ServerRoot-relative paths,
// Include/IncludeOptional with files, directories and wildcards (sorted
// as httpd sorts them), Define/UnDefine/${VAR}, <IfModule>, <IfDefine>,
// <IfFile>, <IfVersion>, and mod_macro's <Macro>/Use. The MD* directives are checked with mod_md's
// syntax, placement rules and error texts, and the MDs are completed,
// matched to virtual hosts and checked as mod_md's post-config does.
//
// Every problem is reported as "file:line: message", all of them in one
// run. Resources are bounded (file size, line length, include depth,
// number of files), so hostile input ends in an error, not a hang.
package apacheconf

import (
	"github.com/mdtools/mdtools/lib/memo"
	"sort"

	"github.com/mdtools/mdtools/lib/md"
)

// Options steer how the config is read.
type Options struct {
	Defines    []string // -D NAME (as httpd -D); NAME=VALUE also sets ${NAME}
	Modules    []string // modules considered loaded for <IfModule>; nil: mod_md's set (md, ssl, watchdog)
	Version    string   // httpd version for <IfVersion>; "" = 2.4.66
	ServerRoot string   // overrides ServerRoot / the default (the config's directory)
	// Inputs, if set, records every file read, path looked at, directory
	// listed and environment variable expanded (md-parse's run memo).
	Inputs *memo.Inputs
}

// Load reads the config at path. Configuration problems come back as
// md.ConfigErrors ("file:line: message"), all of them, not just the first.
// Warnings (unused MDs, undefined variables, ...) are in the result even
// when there are errors.
func Load(path string, opts Options) (*md.ParsedConfig, error) {
	pc, errs := load(path, opts, "")
	if len(errs) > 0 {
		return pc, errs
	}
	return pc, nil
}

func load(path string, opts Options, jail string) (*md.ParsedConfig, md.ConfigErrors) {
	r := newReader(opts, path)
	r.jail = jail
	nodes := r.readTop(path)
	cfg := &config{base: &server{base: true, props: &props{}}}
	cfg.mc.local80, cfg.mc.local443 = 80, 443
	w := &walker{r: r, cfg: cfg, srv: cfg.base}
	if !r.aborted {
		w.walk(nodes)
	}
	var recs []*md.Record
	if !r.aborted {
		recs = r.model(cfg)
	}
	sort.SliceStable(r.errs, func(i, j int) bool {
		a, b := r.errs[i], r.errs[j]
		return a.File < b.File || a.File == b.File && a.Line < b.Line
	})
	// mod_md's MDStoreDir default: "md" relative to ServerRoot
	pc := &md.ParsedConfig{Records: recs, Warnings: r.warns, DefaultStoreDir: r.relative("md")}
	if cfg.mc.storeDir != "" {
		pc.StoreDir = r.relative(cfg.mc.storeDir)
	}
	return pc, r.errs
}
