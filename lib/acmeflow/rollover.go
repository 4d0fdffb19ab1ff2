package acmeflow

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/acme"
)

// RolloverResult says what RolloverAccount did.
type RolloverResult struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Action: "rolled-over" (a new key), "recovered" (an earlier run's
	// rollover, which the CA had accepted, was finished).
	Action string `json:"action"`
	Key    string `json:"key"` // the account's key now ("RSA 2048")
}

// rolloverCrashHook runs after the CA accepted a rollover and before the
// store is switched to the new key; tests kill the process there.
var rolloverCrashHook func()

// SetRolloverCrashHook sets the fault-injection point of RolloverAccount
// (tests only).
func SetRolloverCrashHook(f func()) { rolloverCrashHook = f }

// RolloverAccount replaces an account's key (RFC 8555 §7.3.5) so that the
// store never loses the account: the new key is first staged in
// accounts/<id>/account-new.pem, then the CA is asked, then account.pem is
// replaced (an atomic rename) and the staged file removed. A run that finds
// a staged key (a crash before the switch) asks the CA which of the two
// keys it knows, finishes the switch if the CA has the new one, and else
// rolls over to the staged key.
func RolloverAccount(ctx context.Context, st *store.Store, id string, o AccountOptions) (*RolloverResult, error) {
	a, unlock, err := lockAccount(ctx, st, id, o.LockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if a.File.Status == StatusDeactivated {
		return nil, fmt.Errorf("account %s is deactivated", id)
	}
	res := &RolloverResult{ID: id, URL: a.File.URL}
	newKey, err := st.LoadKey(ctx, store.GroupAccounts, id, FileAccountNewKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if newKey, err = newAccountKey(sameKeyType(a.Key)); err != nil {
			return nil, err
		}
		if err := st.SaveKey(ctx, store.GroupAccounts, id, FileAccountNewKey, newKey); err != nil {
			return nil, fmt.Errorf("staging the new key of account %s: %w", id, err)
		}
	case err != nil:
		return nil, fmt.Errorf("reading the staged new key of account %s: %w", id, err)
	default:
		done, err := finishRollover(ctx, st, a, newKey, o)
		if err != nil || done {
			res.Action, res.Key = "recovered", keyName(newKey.Public())
			return res, err
		}
	}
	c, err := o.client(a)
	if err != nil {
		return nil, err
	}
	if err := c.AccountKeyRollover(ctx, newKey); err != nil {
		return nil, fmt.Errorf("rolling over the key of account %s (the old key stays in use): %w", id, err)
	}
	if rolloverCrashHook != nil {
		rolloverCrashHook()
	}
	if err := switchKey(ctx, st, id, newKey); err != nil {
		return nil, err
	}
	res.Action, res.Key = "rolled-over", keyName(newKey.Public())
	return res, nil
}

// finishRollover handles a staged new key: if the CA knows the account by
// it, the switch is made (done). If the CA still knows the old key, the
// staged key is kept for a new attempt (not done). If it knows neither,
// that is an error, and both keys stay.
func finishRollover(ctx context.Context, st *store.Store, a *Account, newKey crypto.Signer, o AccountOptions) (done bool, err error) {
	knows := func(key crypto.Signer) (bool, error) {
		c, err := o.client(&Account{File: a.File, Key: key, ID: a.ID})
		if err != nil {
			return false, err
		}
		got, err := c.GetReg(ctx, "")
		if errors.Is(err, acme.ErrNoAccount) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return got.URI == "" || got.URI == a.File.URL, nil
	}
	ok, err := knows(newKey)
	if err != nil {
		return false, fmt.Errorf("asking the CA about the staged new key of account %s: %w", a.ID, err)
	}
	if ok {
		return true, switchKey(ctx, st, a.ID, newKey)
	}
	if ok, err = knows(a.Key); err != nil || !ok {
		return false, fmt.Errorf("account %s: the CA knows neither its key nor the staged new one (%v); both are kept", a.ID, err)
	}
	return false, nil
}

// switchKey makes key the account's key and removes the staged copy. The
// key is synced before the copy goes (md-order's store defers its syncs):
// the CA knows only the new key now.
func switchKey(ctx context.Context, st *store.Store, id string, key crypto.Signer) error {
	st = st.Synced()
	if err := st.SaveKey(ctx, store.GroupAccounts, id, store.FileAccountKey, key); err != nil {
		return fmt.Errorf("the CA accepted the new key of account %s, but saving it failed (it stays staged in %s; run rollover again): %w", id, FileAccountNewKey, err)
	}
	if err := st.Remove(ctx, store.GroupAccounts, id, FileAccountNewKey); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// recoverRollover is md-order's side of a crashed rollover: the CA
// rejected the stored key of an account that has a staged new key. If the
// CA accepts the staged key, the switch is finished under the account lock
// and the account is used; else nil (the account is rejected as before).
func (a *attempt) recoverRollover(ctx context.Context, stored *Account) (*Account, *signer) {
	if stored.ID == "" {
		return nil, nil
	}
	st := a.r.Store
	newKey, err := st.LoadKey(ctx, store.GroupAccounts, stored.ID, FileAccountNewKey)
	if err != nil {
		return nil, nil
	}
	b := &Account{File: stored.File, Key: newKey, ID: stored.ID}
	sig, ok, err := a.validate(ctx, b)
	if err != nil || !ok {
		return nil, nil
	}
	unlock, err := lockAccounts(ctx, st, 0)
	if err != nil {
		a.r.log().Warnf("%s: %v", a.name, err)
		return b, sig
	}
	defer unlock()
	if err := switchKey(ctx, st, stored.ID, newKey); err != nil {
		a.r.log().Warnf("%s: %v", a.name, err)
	} else {
		a.progress("Finished the key rollover of account %s, which the CA had accepted", stored.ID)
	}
	return b, sig
}

// sameKeyType is the spec of a new key of the type of key (an ECDSA
// account, registered with md-order --account-key, stays on its curve).
func sameKeyType(key crypto.Signer) md.KeySpec {
	if k, ok := key.Public().(*ecdsa.PublicKey); ok {
		return md.KeySpec{Type: md.KeyEC, Curve: k.Curve.Params().Name}
	}
	return md.KeySpec{Type: md.KeyRSA, Bits: AccountKeyBits}
}
