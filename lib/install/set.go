package install

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Problem names md-install puts into a record's error and the job log.
const (
	ProblemInvalidStaging = "install-invalid-staging"
	ProblemNotServed      = "install-not-served"
	ProblemReload         = "install-reload-failed"
	ProblemDeploy         = "install-deploy-failed"
	ProblemStore          = "install-store-error"
)

// credential is one key spec's key and chain (leaf first).
type credential struct {
	spec  md.KeySpec
	key   crypto.Signer
	chain []*x509.Certificate // the leaf first; nil while lite is set
	lite  *liteLeaf           // loadLive: the leaf only, its intermediates not read (fullChain reads them)
}

// leaf is the credential's leaf certificate; for a lite one, with only
// Raw, serial and validity.
func (c *credential) leaf() *x509.Certificate {
	if c.lite != nil {
		return c.lite.cert()
	}
	return c.chain[0]
}

// leafRaw is the leaf's DER.
func (c *credential) leafRaw() []byte {
	if c.lite != nil {
		return c.lite.Raw
	}
	return c.chain[0].Raw
}

// validity is the leaf's notBefore and notAfter.
func (c *credential) validity() (notBefore, notAfter time.Time) {
	if c.lite != nil {
		return c.lite.NotBefore, c.lite.NotAfter
	}
	return c.chain[0].NotBefore, c.chain[0].NotAfter
}

// Fingerprint is renew.Fingerprint, mod_md's sha256-fingerprint.
var Fingerprint = renew.Fingerprint

// invalid is a problem with the content of a staged set: it is rejected.
type invalid struct{ msg string }

func (e *invalid) Error() string { return e.msg }

func invalidf(format string, args ...any) error { return &invalid{fmt.Sprintf(format, args...)} }

// isInvalid tells a content problem (reject) from an I/O problem (retry).
func isInvalid(err error) bool {
	var iv *invalid
	var ce *store.CorruptError
	return errors.As(err, &iv) || errors.As(err, &ce)
}

// staged is a staged set as loaded from staging/<md>/.
type staged struct {
	md    *md.MD
	creds []credential
	job   *md.Job
	// account is the raw account.json and its key, when md-order staged a
	// new account.
	accountJSON []byte
	accountKey  crypto.Signer
}

// loadStaged reads staging/<name>/ for the given key specs. Content
// problems (missing or unparsable files, wrong key, bad chain) are returned
// as *invalid or *store.CorruptError; everything is checked again by
// check. job is staging/<name>/job.json, which the caller read.
func loadStaged(ctx context.Context, st *store.Store, name string, specs md.KeySpecs, job *md.Job) (*staged, error) {
	m, err := st.LoadMD(ctx, store.GroupStaging, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalidf("staging/%s/md.json is missing", name)
		}
		return nil, err
	}
	if m.CA == nil || m.CA.URL == "" {
		return nil, invalidf("staging/%s/md.json has no effective CA (ca.url)", name)
	}
	s := &staged{md: m}
	for _, spec := range specs {
		kf, cf := spec.FileName("privkey"), spec.FileName("pubcert")
		chain, err := st.LoadChain(ctx, store.GroupStaging, name, cf)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalidf("staged set has no %s certificate (staging/%s/%s is missing)", spec.Name(), name, cf)
		}
		if err != nil {
			return nil, err
		}
		key, err := st.LoadKey(ctx, store.GroupStaging, name, kf)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalidf("staged set has no %s private key (staging/%s/%s is missing)", spec.Name(), name, kf)
		}
		if err != nil {
			return nil, err
		}
		s.creds = append(s.creds, credential{spec: spec, key: key, chain: chain})
	}
	s.job = job // read by stagedFinished
	acct, err := st.Read(ctx, store.GroupStaging, name, store.FileAccount)
	switch {
	case err == nil:
		s.accountJSON = acct
		if s.accountKey, err = st.LoadKey(ctx, store.GroupStaging, name, store.FileAccountKey); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, invalidf("staging/%s/account.json has no account.pem beside it", name)
			}
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return s, nil
}

// check verifies that a set of credentials is complete and valid for the
// MD's domains at time now, by renew.CheckChain (md-order's rule before
// staging): must-staple is left to state_init, as mod_md's preload does.
func check(creds []credential, domains []string, now time.Time) error {
	for _, c := range creds {
		if e := renew.CheckChain(c.chain, c.key, domains, false, now); e != nil {
			return invalidf("certificate(%s) %s", c.spec.Name(), e.Detail)
		}
	}
	return nil
}

// stagedTimes is what renew.ActivateAt needs of a staged set: md-order's
// recorded ready time, the newest notBefore of its certificates, the
// earliest notAfter of the live set (when complete) and MDActivationDelay.
func stagedTimes(s *staged, live []credential, delay time.Duration) renew.StagedSet {
	var out renew.StagedSet
	if s.job != nil {
		out.ValidFrom = s.job.ValidFrom.Time
	}
	for _, c := range s.creds {
		if c.chain[0].NotBefore.After(out.NotBefore) {
			out.NotBefore = c.chain[0].NotBefore
		}
	}
	for _, c := range live {
		if _, na := c.validity(); out.LiveNotAfter.IsZero() || na.Before(out.LiveNotAfter) {
			out.LiveNotAfter = na
		}
	}
	out.Delay = delay
	return out
}

// loadLive reads the live certificates (no keys) of domains/<name>/; a
// missing or unreadable one ends the list early and ok is false. Only the
// leaf is parsed (a run with nothing to do reads thousands of them); the
// rest of the chain is parsed by fullChain when it is needed.
func loadLive(ctx context.Context, st *store.Store, name string, specs md.KeySpecs) (live []credential, ok bool) {
	for _, spec := range specs {
		data, err := st.Read(ctx, store.GroupDomains, name, spec.FileName("pubcert"))
		if err != nil {
			return live, false
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" {
			return live, false
		}
		leaf, err := parseLeafLite(block.Bytes)
		if err != nil {
			return live, false
		}
		// Only the leaf is kept: a run over 100,000 MDs holds them all,
		// and the intermediates are needed only to deploy (fullChain).
		live = append(live, credential{spec: spec, lite: leaf})
	}
	return live, true
}

// fullChain reads a live credential loaded by loadLive completely: the
// leaf and its intermediates, from domains/<md> again (the caller holds the
// MD's lock). A certificate other than the one loadLive saw is an error:
// another run changed the live set meanwhile.
func (c *credential) fullChain(ctx context.Context, st *store.Store, name string) error {
	if c.lite == nil {
		return nil
	}
	chain, err := st.LoadChain(ctx, store.GroupDomains, name, c.spec.FileName("pubcert"))
	if err != nil {
		return fmt.Errorf("live certificate(%s): %w", c.spec.Name(), err)
	}
	if !bytes.Equal(chain[0].Raw, c.lite.Raw) {
		return fmt.Errorf("live certificate(%s) changed while this run worked; the next run deploys it", c.spec.Name())
	}
	c.chain, c.lite = chain, nil
	return nil
}

// sameCerts reports whether two credential lists have the same leaves.
func sameCerts(a, b []credential) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].leafRaw(), b[i].leafRaw()) {
			return false
		}
	}
	return true
}
