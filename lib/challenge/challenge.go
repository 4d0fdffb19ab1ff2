// Package challenge answers ACME challenges (http-01, tls-alpn-01, dns-01)
// for md-order and md-challenge: it selects the challenge types an MD can
// use (mod_md's rules), puts the challenge data in place (store files,
// webroot, standalone listeners, the dns-01 command) and removes it.
//
// Where the data goes, as mod_md keeps it:
//
//	http-01      challenges/<dns>/acme-http-01.txt (the key authorization),
//	             <host.webroot>/.well-known/acme-challenge/<token> if configured,
//	             served by Options.HTTPListen / md-challenge serve.
//	tls-alpn-01  challenges/<dns>/acme-tls-alpn-01-{privkey,pubcert}[.<spec>].pem,
//	             one per key spec, served by Options.TLSListen / md-challenge serve.
//	dns-01       the MD's cmd-dns-01 command: "<cmd> setup <dns> <token>" and
//	             "<cmd> teardown <dns> [<token>]".
//
// The dns-01 command of an MD is, as in mod_md, the MD's own
// MDChallengeDns01, in md.json "cmd-dns-01" (a raw command line, tokenized
// as Apache's apr_tokenize_to_argv does), else the global one, which
// md-parse puts into every record's settings."cmd-dns-01" (argv). md.toml
// readers may also write the effective command into "cmd-dns-01" directly.
package challenge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Challenge types.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
	DNS01     = "dns-01"
)

// mod_md's problem names for challenge failures (md.StageError.Problem).
const (
	ProblemMismatch     = "challenge-mismatch"
	ProblemSetupFailure = "challenge-setup-failure"
)

// ErrNotApplicable is wrapped by Setup errors that mean "this type cannot
// work for this domain here" (mod_md's ENOTIMPL: no acme-tls/1 domain, no
// dns-01 command, a type this package does not implement). When every
// attempt fails this way, the authorization's problem is challenge-mismatch
// rather than challenge-setup-failure.
var ErrNotApplicable = errors.New("challenge: type not applicable")

// Task is one challenge of one authorization.
// Its JSON form is the task line md-challenge reads.
type Task struct {
	Type    string `json:"type"`                        // HTTP01, TLSALPN01 or DNS01
	Domain  string `json:"domain"`                      // the authorization's identifier ("*." stripped)
	Token   string `json:"token,omitempty"`             // from the CA; validated before it touches a path
	KeyAuth string `json:"key-authorization,omitempty"` // token "." base64url(account key thumbprint)
}

// String names a task for logs, as mod_md's setup tokens ("http-01:a.org").
func (t Task) String() string { return t.Type + ":" + t.Domain }

// Responder puts challenge data in place and removes it again.
type Responder interface {
	Setup(ctx context.Context, rec *md.Record, t Task) error
	Teardown(ctx context.Context, rec *md.Record, t Task) error
}

// Candidates returns the challenge types to try for rec, in preference
// order, as mod_md selects them (spec §5.1), or an error saying why none is
// suitable. An explicit ca.challenges list (MDCAChallenges) is used
// verbatim. Otherwise tls-alpn-01, http-01 and dns-01 are filtered:
// http-01 needs public port 80 reachable, tls-alpn-01 needs port 443 and at
// least one acme-tls/1 domain, dns-01 needs a dns-01 command (the MD's
// cmd-dns-01 or the global settings."cmd-dns-01", see DNS01Command). A record
// without settings.reachable counts as reachable on both ports.
func Candidates(rec *md.Record) ([]string, error) {
	return candidates(rec, false, false)
}

// candidates is Candidates where ownHTTP/ownTLS say that this process
// answers http-01/tls-alpn-01 itself on a listener the operator gave
// (md-order --http-listen/--tls-listen): the operator's word counts for
// reachability, and tls-alpn-01 then needs no acme-tls/1 vhost.
func candidates(rec *md.Record, ownHTTP, ownTLS bool) ([]string, error) {
	if rec.CA != nil && len(rec.CA.Challenges) > 0 {
		return configured(rec)
	}
	canHTTP, canHTTPS := true, true
	if rec.Settings != nil && rec.Settings.Reachable != nil {
		canHTTP, canHTTPS = rec.Settings.Reachable.HTTP, rec.Settings.Reachable.HTTPS
	}
	canHTTP, canHTTPS = canHTTP || ownHTTP, canHTTPS || ownTLS
	list := []string{TLSALPN01, HTTP01, DNS01}
	var why strings.Builder
	if !canHTTP {
		list = remove(list, HTTP01)
		why.WriteString(" The http: challenge 'http-01' is disabled because the server seems not reachable on public port 80.")
	}
	if !canHTTPS {
		list = remove(list, TLSALPN01)
		why.WriteString(" The https: challenge 'tls-alpn-01' is disabled because the server seems not reachable on public port 443.")
	} else if len(rec.Proto.ACMETLS1) == 0 && !ownTLS {
		list = remove(list, TLSALPN01)
		why.WriteString(" The https: challenge 'tls-alpn-01' is disabled because the Protocols configuration does not include the 'acme-tls/1' protocol.")
	}
	if len(DNS01Command(rec)) == 0 {
		list = remove(list, DNS01)
		why.WriteString(" The DNS challenge 'dns-01' is disabled because the directive 'MDChallengeDns01' is not configured.")
	}
	if len(list) == 0 {
		return nil, &md.StageError{Detail: "None of the ACME challenge methods configured for this domain are suitable." + why.String()}
	}
	return list, nil
}

// configured is an MD's own MDCAChallenges list, less dns-01 when no
// MDChallengeDns01 command could answer it. mod_md keeps it and fails
// after the CA created an order; an order that cannot be answered only
// burns the CA's rate limit, so an MD left with no type fails before it.
func configured(rec *md.Record) ([]string, error) {
	list := append([]string(nil), rec.CA.Challenges...)
	if len(DNS01Command(rec)) > 0 {
		return list, nil
	}
	kept := list[:0]
	for _, t := range list {
		if !strings.EqualFold(t, DNS01) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return nil, &md.StageError{Detail: fmt.Sprintf("MDCAChallenges allows only '%s', and the DNS challenge 'dns-01' needs the directive 'MDChallengeDns01' (md.toml: challenge-dns01), which is not configured.",
			strings.Join(list, " "))}
	}
	return kept, nil
}

// Candidates is the package's Candidates for a record, counting the
// listeners given in the Manager's options (md-order --http-listen,
// --tls-listen): the operator asked to answer there, so the challenge
// type is usable even when the config alone does not say the host is
// reachable.
func (m *Manager) Candidates(rec *md.Record) ([]string, error) {
	if m.opts.NoListen {
		return Candidates(rec)
	}
	return candidates(rec, m.opts.HTTPListen != "", m.opts.TLSListen != "")
}

// Prepare starts, before anything is ordered, the listeners that the
// challenge types in types will need for rec, so that a port that cannot
// be bound fails the MD before the CA is asked for anything. An error
// wrapping store.ErrLocked means another run of this store listens there.
func (m *Manager) Prepare(rec *md.Record, types []string) error {
	httpAddr, tlsAddr := m.listenAddrs(rec)
	for _, t := range types {
		var err error
		switch {
		case strings.EqualFold(t, HTTP01) && httpAddr != "":
			err = m.startListener("http", httpAddr)
		case strings.EqualFold(t, TLSALPN01) && tlsAddr != "":
			err = m.startListener("tls", tlsAddr)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func remove(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// DefaultCommandTimeout bounds one run of a dns-01 command.
const DefaultCommandTimeout = 5 * time.Minute

// Options configure a Manager.
type Options struct {
	// HTTPListen and TLSListen are where the Manager serves http-01 and
	// tls-alpn-01 (started on the first Setup that needs them, stopped by
	// Close). When empty, a record's host."http-listen"/"tls-listen" is
	// used; when that is empty too, nothing listens (a web server answers
	// from the store or the webroot).
	HTTPListen string
	TLSListen  string
	// NoListen starts no listener at all, whatever the options or records
	// say (md-challenge setup: another process serves the store).
	NoListen bool

	// Announce, when set, runs after a challenge's data is in place and
	// before Setup returns: mod_md raises the "challenge-setup:<type>:<dns>"
	// event here, so that clusters can distribute the data. An error fails
	// the setup (the data is removed again).
	Announce func(ctx context.Context, rec *md.Record, t Task) error

	// CommandTimeout bounds each dns-01 command run (DefaultCommandTimeout
	// when 0).
	CommandTimeout time.Duration

	// Log receives progress and command stderr; nil is silent.
	Log logger.Logger

	// Node names this host in the store locks of its listeners (md.Node()
	// when empty): a port is a host's, so on a store shared by a fleet
	// two nodes listening on ":80" each must not wait for the other.
	Node string

	// Now is the clock for challenge certificates (time.Now when nil).
	Now func() time.Time
}

// Manager is the store-backed Responder md-order and md-challenge use. It
// is safe for concurrent use; work on one DNS name is serialised.
type Manager struct {
	st   *store.Store
	opts Options
	log  logger.Logger

	domains sync.Map // dns name -> *sync.Mutex

	mu        sync.Mutex          // guards the listeners
	listeners map[string]*Servers // "http <addr>" / "tls <addr>"
	unlocks   map[string]func()   // their store locks, by the same key
	firstHTTP net.Addr
	firstTLS  net.Addr
	closed    bool
}

var _ Responder = (*Manager)(nil)

// New returns a Manager over the store. Listeners in opts start on the
// first Setup that needs them and stop on Close.
func New(st *store.Store, opts Options) (*Manager, error) {
	if st == nil {
		return nil, errors.New("challenge: no store")
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := logger.Or(opts.Log)
	return &Manager{st: st, opts: opts, log: log}, nil
}

func (m *Manager) lockDomain(dns string) func() {
	v, _ := m.domains.LoadOrStore(dns, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Setup implements Responder: it validates the task, puts its data in
// place, starts a configured listener for it and announces it.
func (m *Manager) Setup(ctx context.Context, rec *md.Record, t Task) error {
	if err := t.Validate(true); err != nil {
		return err
	}
	unlock := m.lockDomain(t.Domain)
	defer unlock()
	var err error
	switch t.Type {
	case HTTP01:
		if err = m.setupHTTP01(ctx, rec, t); err == nil {
			m.handOver(ctx, t.Domain)
			if addr, _ := m.listenAddrs(rec); addr != "" {
				err = m.startListener("http", addr)
			}
		}
	case TLSALPN01:
		if err = m.setupTLSALPN01(ctx, rec, t); err == nil {
			m.handOver(ctx, t.Domain)
			if _, addr := m.listenAddrs(rec); addr != "" {
				err = m.startListener("tls", addr)
			}
		}
	case DNS01:
		err = m.setupDNS01(ctx, rec, t)
	case DNSPersist01:
		// nothing to put in place: the CA reads the record the operator
		// published once (md-challenge persist-record prints it)
		m.log.Infof("%s: the CA reads %s.%s; nothing to set up", t, PersistLabel, t.Domain)
		return nil
	default:
		return fmt.Errorf("%w: %q is not a challenge type mdtools can answer", ErrNotApplicable, t.Type)
	}
	if err != nil {
		if t.Type != DNS01 && !errors.Is(err, ErrNotApplicable) { // no half-written data stays behind
			if terr := m.teardownDir(ctx, rec, t); terr != nil {
				m.log.Warnf("%s: removing challenge data after a failed setup: %v", t, terr)
			}
		}
		return fmt.Errorf("setting up %s: %w", t, err)
	}
	if m.opts.Announce != nil {
		if err := m.opts.Announce(ctx, rec, t); err != nil {
			if terr := m.teardown(ctx, rec, t); terr != nil {
				m.log.Warnf("%s: removing challenge data after a failed announcement: %v", t, terr)
			}
			return fmt.Errorf("announcing %s: %w", t, err)
		}
	}
	m.log.Infof("%s: challenge %s set up", rec.Name, t)
	return nil
}

// Teardown implements Responder: http-01 and tls-alpn-01 remove
// challenges/<dns>/ (and the webroot file), dns-01 runs the teardown
// command. Token and KeyAuth may be empty here except for dns-01 with
// MDChallengeDns01Version 2, which needs the key authorization.
func (m *Manager) Teardown(ctx context.Context, rec *md.Record, t Task) error {
	if err := t.Validate(false); err != nil {
		return err
	}
	// Cleanup must not be skipped because the run was interrupted or its
	// order timed out: challenge data left behind is served forever and a
	// dns-01 record stays published. It is bounded by its own timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.CommandTimeout)
	defer cancel()
	unlock := m.lockDomain(t.Domain)
	defer unlock()
	if err := m.teardown(ctx, rec, t); err != nil {
		return fmt.Errorf("tearing down %s: %w", t, err)
	}
	return nil
}

func (m *Manager) teardown(ctx context.Context, rec *md.Record, t Task) error {
	switch t.Type {
	case HTTP01, TLSALPN01:
		return m.teardownDir(ctx, rec, t)
	case DNS01:
		return m.teardownDNS01(ctx, rec, t)
	case DNSPersist01:
		return nil // the record stays: it serves every later order
	}
	return fmt.Errorf("%w: %q is not a challenge type mdtools can answer", ErrNotApplicable, t.Type)
}

// teardownDir removes challenges/<dns>/ as mod_md does for http-01 and
// tls-alpn-01, and the webroot token file.
func (m *Manager) teardownDir(ctx context.Context, rec *md.Record, t Task) error {
	var errs []error
	if webroot := hostWebroot(rec); webroot != "" {
		token := t.Token
		if token == "" { // learn it from the stored key authorization
			if b, err := m.st.Read(ctx, store.GroupChallenges, t.Domain, store.FileHTTP01); err == nil {
				if tok, _, ok := strings.Cut(string(b), "."); ok && ValidateToken(tok) == nil {
					token = tok
				}
			}
		}
		if token != "" {
			if err := removeWebrootToken(webroot, token); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := m.st.Purge(ctx, store.GroupChallenges, t.Domain); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close stops any listeners.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for key, s := range m.listeners {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		if unlock := m.unlocks[key]; unlock != nil {
			unlock()
		}
	}
	m.listeners, m.unlocks = nil, nil
	return errors.Join(errs...)
}
