// Package importer takes over the accounts and certificates of another
// ACME client without asking the CA for anything: certbot's
// /etc/letsencrypt, lego's .lego and acme.sh's ~/.acme.sh. Each client's
// files are read into one model (a file per client); the certificates are
// grouped into managed domains (one MD per name set, one certificate per
// key spec); an md.toml for those MDs is written and read back by
// lib/tomlconf, so that the records are exactly those md-parse prints for
// it; then the accounts go into accounts/ in mod_md's format, each MD's
// live certificate and key into domains/<md>/ (byte for byte, through
// lib/store), and the store is synced as md-parse syncs it. After an
// import, md-order finds nothing due until the certificates' renew window
// and renews with the imported account.
//
// What cannot be carried over (hooks, DNS plugin credentials, installer
// edits) is reported per certificate, with what to configure instead.
package importer

import (
	"crypto"
	"crypto/x509"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// The clients an importer exists for.
const (
	Certbot = "certbot"
	Lego    = "lego"
	AcmeSh  = "acme.sh"
)

// Clients lists them, for usage messages.
var Clients = []string{Certbot, Lego, AcmeSh}

// Statuses in the report.
const (
	StatusImported  = "imported"  // written to the store
	StatusUnchanged = "unchanged" // the store has it already (an earlier import)
	StatusSkipped   = "skipped"   // not imported; Detail says why
	StatusDryRun    = "dry-run"   // would be imported (--dry-run)
)

// Report is what an import found and did, one entry per account and per
// certificate of the client.
type Report struct {
	Client       string          `json:"client"`
	Dir          string          `json:"dir"`
	Store        string          `json:"store"`
	TOML         string          `json:"toml,omitempty"`   // the md.toml written (--toml), "" if none
	Apache       string          `json:"apache,omitempty"` // the Apache config written (--apache)
	Accounts     []AccountReport `json:"accounts"`
	Certificates []CertReport    `json:"certificates"`
}

// AccountReport is one account of the client.
type AccountReport struct {
	Source  string   `json:"source"` // its directory, relative to the client's
	URL     string   `json:"url,omitempty"`
	CAURL   string   `json:"ca-url,omitempty"`
	Contact []string `json:"contact,omitempty"`
	ID      string   `json:"id,omitempty"` // accounts/<id> in the store
	Status  string   `json:"status"`
	Detail  string   `json:"detail,omitempty"`
	// NotCarried lists what the store cannot keep (an EAB binding).
	NotCarried []Note `json:"not-carried-over,omitempty"`
}

// CertReport is one certificate of the client (a certbot lineage, a lego
// certificate, an acme.sh domain directory).
type CertReport struct {
	Source   string   `json:"source"` // relative to the client's directory
	MD       string   `json:"md,omitempty"`
	Spec     string   `json:"spec,omitempty"` // key spec: "rsa-2048", "secp256r1"
	Domains  []string `json:"domains,omitempty"`
	NotAfter md.Time  `json:"not-after,omitzero"`
	Account  string   `json:"account,omitempty"` // accounts/<id> the MD uses
	Status   string   `json:"status"`
	Detail   string   `json:"detail,omitempty"`
	// NotCarried is what the client did for this certificate that mdtools
	// does not take over by itself, each with what to configure instead.
	NotCarried []Note `json:"not-carried-over,omitempty"`
}

// Note is one thing not carried over. Value names the setting (a hook's
// command, a credentials file's path), never a secret.
type Note struct {
	What    string `json:"what"`
	Value   string `json:"value,omitempty"`
	Instead string `json:"instead"`
}

// account is an account as a client stored it.
type account struct {
	source  string // directory relative to the client's
	url     string
	caURL   string
	contact []string
	status  string
	orders  string
	key     crypto.Signer
	err     error // unusable; the report says why
	notes   []Note
	id      string // accounts/<id> once imported
	written bool   // this import wrote it
}

// cert is one live certificate as a client stored it, with what the
// client knows about renewing it.
type cert struct {
	source   string // relative to the client's directory
	name     string // the client's name for it (lineage, main domain)
	caURL    string
	acct     *account
	chainPEM []byte // leaf first, then intermediates, as the client's file
	keyPEM   []byte
	leaf     *x509.Certificate
	spec     md.KeySpec
	err      error // unusable; the report says why

	mode string // how the client answered challenges (acme.sh Le_Webroot)

	// renewal settings that carry over
	webroot     string // http-01 files go here
	httpListen  string // standalone http-01 listener
	tlsListen   string // standalone tls-alpn-01 listener
	challenges  []string
	renewWindow string // md.toml renew-window, "" for the default
	notes       []Note
}

// scan is what a client's directory holds.
type scan struct {
	accounts []*account
	certs    []*cert
}

// Options steer an import.
type Options struct {
	Client string // Certbot, Lego or AcmeSh
	Dir    string // the client's directory
	// Server is the CA directory URL for lego, which keeps only the CA's
	// host name; known CAs are recognised without it.
	Server string
	// StoreDir is the store; it goes into the md.toml (store-dir) and
	// every record.
	StoreDir string
	// TOMLPath and ApachePath, when set, are where the md.toml and the
	// Apache MDomain lines are written; existing files are not replaced.
	TOMLPath   string
	ApachePath string
	DryRun     bool          // read and report, write nothing
	Wait       time.Duration // store lock wait
}
