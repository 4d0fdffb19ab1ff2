package acmeflow

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// authorize answers the pending authorizations of an order (spec §5.1):
// per authorization the first candidate type the CA offers whose setup
// succeeds.
func (a *attempt) authorize(ctx context.Context, o *acme.Order, of *orderFile) ([]string, error) {
	types := a.types
	if a.r.Challenges == nil {
		return nil, errors.New("no challenge responder configured")
	}
	thumb, err := acme.JWKThumbprint(a.acct.Key.Public())
	if err != nil {
		return nil, err
	}
	var zs []*authz
	for _, u := range o.AuthzURLs {
		z, _, err := a.sig.getAuthz(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("getting authorization: %w", err)
		}
		zs = append(zs, z)
	}
	// In the MD's domain order (CAs list authorizations in any order), so
	// that challenge-setup events come as mod_md raises them.
	pos := func(z *authz) int {
		for i, d := range a.rec.Domains {
			if strings.EqualFold(strings.TrimPrefix(d, "*."), z.Identifier.Value) && md.IsWildcard(d) == z.Wildcard {
				return i
			}
		}
		return len(a.rec.Domains)
	}
	sort.SliceStable(zs, func(i, j int) bool { return pos(zs[i]) < pos(zs[j]) })
	var pending []string
	for _, z := range zs {
		u := z.URL
		if z.Status == acme.StatusValid {
			continue
		}
		if z.Status != acme.StatusPending {
			return nil, authzError(z)
		}
		if err := a.setupOne(ctx, z, types, thumb, of); err != nil {
			return nil, err
		}
		pending = append(pending, u)
	}
	return pending, nil
}

// authzFailure explains a failed order by the first failed authorization
// among pending (the order's own problem says less), else returns err.
func (a *attempt) authzFailure(ctx context.Context, pending []string, err error) error {
	for _, u := range pending {
		z, _, gerr := a.sig.getAuthz(ctx, u)
		if gerr == nil && z.Status != acme.StatusValid && z.Status != acme.StatusPending {
			return authzError(z)
		}
	}
	return err
}

func (a *attempt) setupOne(ctx context.Context, z *authz, types []string, thumb string, of *orderFile) error {
	offers := make([]challenge.Offer, len(z.Challenges))
	for i, c := range z.Challenges {
		if c.Status == acme.StatusValid {
			return nil
		}
		offers[i] = challenge.Offer{Type: c.Type, Token: c.Token}
	}
	ev := &announcer{a: a}
	t, idx, err := challenge.Respond(ctx, ev, a.rec, z.Identifier.Value, types, offers,
		func(token string) (string, error) { return token + "." + thumb, nil })
	if err != nil {
		return err
	}
	of.Tasks = append(of.Tasks, t)
	setup := t.Type + ":" + t.Domain
	if t.Type == challenge.DNS01 {
		setup += " " + challenge.DNS01Value(t.KeyAuth)
	}
	of.ChallengeSetups = append(of.ChallengeSetups, setup)
	if err := a.r.Store.SaveJSON(ctx, store.GroupStaging, a.name, store.FileOrder, of); err != nil {
		return err
	}
	if err := a.sig.accept(ctx, z.Challenges[idx].URL); err != nil {
		return fmt.Errorf("answering the %s challenge for %s: %w", t.Type, t.Domain, err)
	}
	return nil
}

// announcer sets a challenge up through the runner's responder, then
// raises mod_md's "challenge-setup:<type>:<dns>" event; a failing event
// command fails that setup (mod_md then tries the next type).
type announcer struct{ a *attempt }

func (n *announcer) Setup(ctx context.Context, rec *md.Record, t challenge.Task) error {
	a := n.a
	a.progress("Setting up challenge '%s' for domain %s", t.Type, t.Domain)
	if err := a.r.Challenges.Setup(ctx, rec, t); err != nil {
		return err
	}
	if err := a.r.notifier(rec).Raise(ctx, a.job, "challenge-setup:"+t.Type+":"+t.Domain, a.name, a.r.now()); err != nil {
		_ = a.r.Challenges.Teardown(ctx, rec, t)
		return fmt.Errorf("challenge-setup event: %w", err)
	}
	return nil
}

func (n *announcer) Teardown(ctx context.Context, rec *md.Record, t challenge.Task) error {
	return n.a.r.Challenges.Teardown(ctx, rec, t)
}
