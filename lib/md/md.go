package md

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// MD states (md.json "state"), as mod_md's md_state_t.
const (
	StateUnknown     = 0
	StateIncomplete  = 1
	StateComplete    = 2
	StateExpired     = 3 // deprecated; read back as complete
	StateError       = 4
	StateMissingInfo = 5
)

// Renew modes (md.json "renew-mode").
const (
	RenewManual = 0
	RenewAuto   = 1
	RenewAlways = 2
)

// CA is md.json's "ca" object.
type CA struct {
	Account    string   `json:"account,omitempty"`
	Proto      string   `json:"proto,omitempty"`
	URL        string   `json:"url,omitempty"`
	URLs       []string `json:"urls,omitempty"`
	Agreement  string   `json:"agreement,omitempty"`
	Challenges []string `json:"challenges,omitempty"`
}

// Proto is md.json's "proto" object.
type Proto struct {
	ACMETLS1 []string `json:"acme-tls/1"`
}

// EAB is an external account binding. The HMAC is a secret: it is kept in
// the store but never written to the record stream or logs (see Redacted).
type EAB struct {
	KID  string `json:"kid"`
	HMAC string `json:"hmac,omitempty"`
}

// RedactedSecret is what a secret shows as in output, as mod_md's md-status.
const RedactedSecret = "***"

// MD is mod_md's md.json object. Field order is mod_md's key order
// (src/md_core.c md_to_json); presence rules follow it too: lists and
// booleans mod_md always writes are always written.
type MD struct {
	Name             string     `json:"name,omitempty"`
	Domains          []string   `json:"domains"`
	Contacts         []string   `json:"contacts"`
	Transitive       int        `json:"transitive"`
	CA               *CA        `json:"ca,omitempty"`
	PrivKey          KeySpecs   `json:"privkey,omitempty"`
	State            int        `json:"state"`
	StateDescr       string     `json:"state-descr,omitempty"`
	RenewMode        int        `json:"renew-mode"`
	RenewWindow      *Timeslice `json:"renew-window,omitempty"`
	WarnWindow       *Timeslice `json:"warn-window,omitempty"`
	RequireHTTPS     string     `json:"require-https,omitempty"`
	MustStaple       bool       `json:"must-staple"`
	Proto            Proto      `json:"proto"`
	CertFiles        []string   `json:"cert-files,omitempty"`
	PKeyFiles        []string   `json:"pkey-files,omitempty"`
	Stapling         bool       `json:"stapling"`
	CmdDNS01         string     `json:"cmd-dns-01,omitempty"`
	ProxyURL         string     `json:"proxy-url,omitempty"`
	CACerts          string     `json:"ca-certs,omitempty"`
	ProxyCACerts     string     `json:"proxy-ca-certs,omitempty"`
	EAB              *EAB       `json:"eab,omitempty"`
	Profile          string     `json:"profile,omitempty"`
	ProfileMandatory bool       `json:"profile-mandatory"`
	ARIRenewals      bool       `json:"ari-renewals"`
	// ReuseKey and PreferredChain are mdtools extensions (md.toml
	// reuse-key / preferred-chain, MDPrivateKeyReuse / MDPreferredChain),
	// which mod_md does not know: keep the private keys on renewal; the
	// issuer common name of the topmost certificate of the chain to prefer
	// among those the CA offers (md-order, lib/acmeflow/chains.go).
	ReuseKey       bool   `json:"reuse-key,omitempty"`
	PreferredChain string `json:"preferred-chain,omitempty"`

	// Extra keeps top-level fields this version does not know, so that a
	// stage passes them on and a store file written by a newer mod_md keeps
	// them when rewritten.
	Extra map[string]json.RawMessage `json:"-"`
}

// mdFields has MD's fields without its methods, for encoding/json.
type mdFields MD

// normalized returns a copy whose always-present lists are non-nil, so they
// encode as [] as mod_md writes them.
func (m MD) normalized() mdFields {
	if m.Domains == nil {
		m.Domains = []string{}
	}
	if m.Contacts == nil {
		m.Contacts = []string{}
	}
	if m.Proto.ACMETLS1 == nil {
		m.Proto.ACMETLS1 = []string{}
	}
	return mdFields(m)
}

// MarshalJSON encodes in mod_md's key order, then unknown fields.
func (m MD) MarshalJSON() ([]byte, error) {
	b, err := MarshalNoEscape(m.normalized())
	if err != nil {
		return nil, err
	}
	return appendExtra(b, m.Extra)
}

// DecodeMD decodes one md.json file: the one rule for reading MD
// definitions from the store. The common file (only fields this version
// knows) takes one plain pass, about three times faster; anything else
// (unknown fields, kept in Extra, or an error that names its field) goes
// through UnmarshalJSON. Both give the same MD.
func DecodeMD(data []byte) (*MD, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		var f mdFields
		if dec.Decode(&f) == nil && dec.InputOffset() == int64(len(t)) {
			m := MD(f)
			return &m, nil
		}
	}
	var m MD
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// UnmarshalJSON decodes md.json, keeping unknown fields in Extra and naming
// the offending field in errors.
func (m *MD) UnmarshalJSON(b []byte) error {
	var f mdFields
	extra, err := decodeObject(b, &f)
	if err != nil {
		return err
	}
	*m = MD(f)
	m.Extra = extra
	return nil
}

// Validate checks what every stage relies on: a valid name that is the first
// domain, valid and unique domains, known modes.
func (m *MD) Validate() error {
	if err := ValidateDomain(m.Name); err != nil {
		return &FieldError{Field: "name", Err: err}
	}
	if len(m.Domains) == 0 {
		return &FieldError{Field: "domains", Err: fmt.Errorf("needs at least one domain name")}
	}
	seen := make(map[string]bool, len(m.Domains))
	for i, d := range m.Domains {
		if err := ValidateDomain(d); err != nil {
			return &FieldError{Field: fmt.Sprintf("domains[%d]", i), Err: err}
		}
		if seen[strings.ToLower(d)] {
			return &FieldError{Field: fmt.Sprintf("domains[%d]", i), Err: fmt.Errorf("%q is listed twice", d)}
		}
		seen[strings.ToLower(d)] = true
	}
	if !strings.EqualFold(m.Name, m.Domains[0]) {
		return &FieldError{Field: "name", Err: fmt.Errorf("%q is not the first domain %q", m.Name, m.Domains[0])}
	}
	if m.RenewMode < RenewManual || m.RenewMode > RenewAlways {
		return &FieldError{Field: "renew-mode", Err: fmt.Errorf("%d is not 0 (manual), 1 (auto) or 2 (always)", m.RenewMode)}
	}
	switch m.RequireHTTPS {
	case "", "temporary", "permanent":
	default:
		return &FieldError{Field: "require-https", Err: fmt.Errorf("%q is not \"temporary\" or \"permanent\"", m.RequireHTTPS)}
	}
	return nil
}

// Redacted returns a copy safe to print: the EAB HMAC shows as "***".
func (m MD) Redacted() MD {
	if m.EAB != nil && m.EAB.HMAC != "" {
		e := *m.EAB
		e.HMAC = RedactedSecret
		m.EAB = &e
	}
	return m
}
