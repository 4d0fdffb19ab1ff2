// Package challenge answers ACME challenges (http-01, tls-alpn-01, dns-01)
// for md-order and md-challenge: it selects the challenge types an MD can
// use (mod_md's rules), puts the challenge data in place (store files,
// webroot, standalone listeners, the dns-01 command) and removes it.
package challenge

import (
	"context"
	"errors"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Challenge types.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
	DNS01     = "dns-01"
)

// Task is one challenge of one authorization.
type Task struct {
	Type    string // HTTP01, TLSALPN01 or DNS01
	Domain  string // the authorization's identifier ("*." stripped)
	Token   string // from the CA; validated before it touches a path
	KeyAuth string // token "." base64url(account key thumbprint)
}

// Responder puts challenge data in place and removes it again.
type Responder interface {
	Setup(ctx context.Context, rec *md.Record, t Task) error
	Teardown(ctx context.Context, rec *md.Record, t Task) error
}

// Candidates returns the challenge types to try for rec, in preference
// order, as mod_md selects them (spec §5.1), or an error saying why none is
// suitable.
func Candidates(rec *md.Record) ([]string, error) {
	return nil, errors.New("challenge: not implemented yet")
}

// Options configure a Manager.
type Options struct {
	HTTPListen string // serve http-01 on this address while set up ("" = don't)
	TLSListen  string // serve tls-alpn-01 on this address ("" = don't)
}

// Manager is the store-backed Responder md-order and md-challenge use.
type Manager struct {
	st   *store.Store
	opts Options
}

var _ Responder = (*Manager)(nil)

// New returns a Manager over the store.
func New(st *store.Store, opts Options) (*Manager, error) {
	return &Manager{st: st, opts: opts}, nil
}

// Setup implements Responder.
func (m *Manager) Setup(ctx context.Context, rec *md.Record, t Task) error {
	return errors.New("challenge: not implemented yet")
}

// Teardown implements Responder.
func (m *Manager) Teardown(ctx context.Context, rec *md.Record, t Task) error {
	return errors.New("challenge: not implemented yet")
}

// Close stops any listeners.
func (m *Manager) Close() error { return nil }
