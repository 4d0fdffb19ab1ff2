package acmeflow

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// orderKey is the private key a new certificate of spec is ordered for:
// with reuse-key (MDPrivateKeyReuse) the live key, when reusableKey allows
// it, else a new one.
func (a *attempt) orderKey(ctx context.Context, spec md.KeySpec) (crypto.Signer, error) {
	if a.rec.ReuseKey {
		if k := a.reusableKey(ctx, spec); k != nil {
			a.r.log().Infof("%s: reusing the private key of the live certificate(%s) (reuse-key)", a.name, spec.Name()) // progress() is not for this goroutine
			return k, nil
		}
	}
	return md.GenerateKey(spec)
}

// reusableKey is the live private key of spec (domains/<md>/privkey*.pem),
// if the live certificate exists, fits it, was not revoked for
// keyCompromise (md-order revoke), and the key still matches the spec;
// else nil.
func (a *attempt) reusableKey(ctx context.Context, spec md.KeySpec) crypto.Signer {
	st := a.r.Store
	chain, err := st.LoadChain(ctx, store.GroupDomains, a.name, spec.FileName("pubcert"))
	if err != nil || len(chain) == 0 {
		return nil
	}
	key, err := st.LoadKey(ctx, store.GroupDomains, a.name, spec.FileName("privkey"))
	if err != nil || !renew.KeyFits(chain[0], key) || !keyMatchesSpec(key, spec) {
		return nil
	}
	if revs, err := renew.LoadRevocations(ctx, st, a.name); err != nil {
		return nil
	} else if e, ok := revs.Find(renew.Fingerprint(chain[0])); ok && e.Reason == "keyCompromise" {
		a.r.log().Warnf("%s: not reusing the key of certificate(%s): it was revoked for keyCompromise", a.name, spec.Name())
		return nil
	}
	return key
}

// keyMatchesSpec reports whether key is of the type and size spec asks.
func keyMatchesSpec(key crypto.Signer, spec md.KeySpec) bool {
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		bits := spec.Bits
		if bits == 0 {
			bits = md.MinRSABits
		}
		return (spec.Type == md.KeyRSA || spec.Type == md.KeyDefault || spec.Type == "") && k.N.BitLen() == bits
	case *ecdsa.PublicKey:
		name, ok := md.CurveName(spec.Curve)
		return spec.Type == md.KeyEC && ok && k.Curve.Params().Name == name
	}
	return false
}
