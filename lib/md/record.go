package md

import (
	"encoding/json"
	"strings"
)

// Record is one managed domain on the JSON Lines stream between the md-*
// commands: the md.json fields, where the MD was defined, the server-wide
// settings and vhosts that apply to it (md-parse), what a non-Apache host
// configured (host), and one section per stage that touched it. Unknown top-level fields are kept in MD.Extra
// and passed on.
type Record struct {
	MD
	Source *Source `json:"source,omitempty"`
	// Store names the store md-parse chose for this MD (an absolute
	// directory today; a string so that a URL can name a shared store
	// later). Every later stage opens this store: see cli.ChooseStore.
	Store    string         `json:"store,omitempty"`
	Watched  *bool          `json:"watched,omitempty"`
	Settings *Settings      `json:"settings,omitempty"`
	Vhosts   []Vhost        `json:"vhosts,omitempty"`
	Host     *HostConfig    `json:"host,omitempty"`
	Order    *OrderResult   `json:"order,omitempty"`
	Install  *InstallResult `json:"install,omitempty"`
	Staple   *StapleResult  `json:"staple,omitempty"`
	Error    *StageError    `json:"error,omitempty"`
}

// Source is where an MD was defined.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
}

// StageError is what went wrong for this record in a stage. Problem is an
// ACME problem URN verbatim or one of mod_md's own problem names
// ("challenge-mismatch", "challenge-setup-failure", ...).
type StageError struct {
	Stage       string       `json:"stage"`
	Problem     string       `json:"problem,omitempty"`
	Detail      string       `json:"detail"`
	Subproblems []Subproblem `json:"subproblems,omitempty"`
	RetryAfter  Time         `json:"retry-after,omitzero"`
}

func (e *StageError) Error() string {
	if e.Problem != "" {
		return e.Stage + ": " + e.Detail + " (" + e.Problem + ")"
	}
	return e.Stage + ": " + e.Detail
}

// Subproblem is an ACME subproblem (RFC 8555 §6.7.1).
type Subproblem struct {
	Type       string      `json:"type"`
	Detail     string      `json:"detail,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
}

// Identifier is an ACME identifier.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// recordFields has Record's fields without its methods, for encoding/json.
type recordFields struct {
	mdFields
	Source   *Source        `json:"source,omitempty"`
	Store    string         `json:"store,omitempty"`
	Watched  *bool          `json:"watched,omitempty"`
	Settings *Settings      `json:"settings,omitempty"`
	Vhosts   []Vhost        `json:"vhosts,omitempty"`
	Host     *HostConfig    `json:"host,omitempty"`
	Order    *OrderResult   `json:"order,omitempty"`
	Install  *InstallResult `json:"install,omitempty"`
	Staple   *StapleResult  `json:"staple,omitempty"`
	Error    *StageError    `json:"error,omitempty"`
}

// MarshalJSON encodes the md.json fields in mod_md's order, then the stage
// sections, then unknown fields. It does not redact: use Redacted for output.
func (r Record) MarshalJSON() ([]byte, error) {
	b, err := MarshalNoEscape(r.fields())
	if err != nil {
		return nil, err
	}
	return appendExtra(b, r.Extra)
}

// ReadJSON hands fn the record as MarshalJSON encodes it, valid only
// during the call: no copy is made, for a caller that only reads it
// (md-parse hashes 100,000 records to key its memo; copies were 69 MB).
func (r Record) ReadJSON(fn func([]byte)) error {
	if len(r.Extra) > 0 {
		b, err := r.MarshalJSON()
		if err != nil {
			return err
		}
		fn(b)
		return nil
	}
	return withMarshaled(r.fields(), fn)
}

func (r *Record) fields() recordFields {
	return recordFields{
		mdFields: r.MD.normalized(),
		Source:   r.Source, Store: r.Store, Watched: r.Watched, Settings: r.Settings, Vhosts: r.Vhosts, Host: r.Host,
		Order: r.Order, Install: r.Install, Staple: r.Staple, Error: r.Error,
	}
}

// UnmarshalJSON decodes a record, naming the bad field in errors.
func (r *Record) UnmarshalJSON(b []byte) error {
	var f recordFields
	var extra map[string]json.RawMessage
	if !decodePlain(b, &f) {
		var err error
		if extra, err = decodeObject(b, &f); err != nil {
			return err
		}
	}
	*r = f.record(extra)
	return nil
}

func (f *recordFields) record(extra map[string]json.RawMessage) Record {
	r := Record{MD: MD(f.mdFields), Source: f.Source, Store: f.Store, Watched: f.Watched, Settings: f.Settings, Vhosts: f.Vhosts, Host: f.Host,
		Order: f.Order, Install: f.Install, Staple: f.Staple, Error: f.Error}
	r.Extra = extra
	return r
}

// IsWatched is mod_md's "watched": an MD in error is not, and neither is
// an MD in renew mode auto that no virtual host uses (md-parse says so with
// "watched": false for Apache configs; md.toml has no vhosts, its MDs are
// always used). Unwatched MDs are not renewed and raise no events.
func (r *Record) IsWatched() bool {
	if r.State == StateError {
		return false
	}
	return r.Watched == nil || *r.Watched
}

// LowerNames turns the name and the domains to lower case, as mod_md
// does when it reads an MD: names become store paths (domains/<name>), and
// DNS names are case-insensitive, so A.test and a.test are one MD.
func (r *Record) LowerNames() {
	r.Name = strings.ToLower(r.Name)
	for i, d := range r.Domains {
		r.Domains[i] = strings.ToLower(d)
	}
}

// Redacted returns a copy safe to print (see MD.Redacted).
func (r Record) Redacted() Record {
	r.MD = r.MD.Redacted()
	return r
}

// Fail records a stage failure on the record.
func (r *Record) Fail(stage string, err error) {
	if se, ok := err.(*StageError); ok {
		c := *se
		if c.Stage == "" {
			c.Stage = stage
		}
		r.Error = &c
		return
	}
	r.Error = &StageError{Stage: stage, Detail: err.Error()}
}

var _ json.Marshaler = Record{}
var _ json.Unmarshaler = (*Record)(nil)
