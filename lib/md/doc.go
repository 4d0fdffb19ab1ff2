// Package md owns the managed-domain record that flows between the md-*
// commands: mod_md's md.json object (field names, value types and key order
// exactly as mod_md writes them), plus the pipeline sections each stage adds
// (source, order, install, staple, error). It also owns the value types that
// mod_md serialises in its own way: RFC 822 times, timeslices (renew and warn
// windows), private-key specs, and the job log.
//
// The record types are declared here once; commands never redeclare them.
package md
