package ocsptest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"crypto/sha1"
	"encoding/hex"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/store"
)

// BuildStore fills the store at dir with n installed MDs
// (bench-00000.test ...), each with one certificate from ca naming the
// responder. With respond, each also gets a current stored response
// (ocsp/<md>/ocsp-<id>.json), as after a successful md-staple run. Files
// are written directly, without fsync, for benchmark setup speed.
func BuildStore(ctx context.Context, dir string, n int, ca *CA, r *Responder, respond bool) error {
	if _, err := store.Open(ctx, dir); err != nil {
		return err
	}
	now := time.Now()
	errs := make([]error, n)
	pool.Each(n, 8, func(i int) { errs[i] = buildOne(dir, i, ca, r, respond, now) })
	return errors.Join(errs...)
}

func buildOne(dir string, i int, ca *CA, r *Responder, respond bool, now time.Time) error {
	{
		name := fmt.Sprintf("bench-%05d.test", i)
		leaf, _, chain, err := ca.Leaf(LeafOptions{OCSP: r.URL, Name: name})
		if err != nil {
			return err
		}
		m := &md.MD{Name: name, Domains: []string{name}, Stapling: true, State: md.StateComplete}
		mj, err := md.StoreJSON(m)
		if err != nil {
			return err
		}
		d := filepath.Join(dir, "domains", name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "md.json"), mj, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "pubcert.pem"), chain, 0o644); err != nil {
			return err
		}
		if !respond {
			return nil
		}
		der, err := r.Respond(leaf.SerialNumber, now)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(chain)
		sum := sha1.Sum(block.Bytes)
		stored := map[string]any{
			"response": base64.RawURLEncoding.EncodeToString(der),
			"status":   "good",
			"valid":    md.Period{From: md.NewTime(now.Add(-time.Minute)), Until: md.NewTime(now.Add(r.Validity))},
		}
		b, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		o := filepath.Join(dir, "ocsp", name)
		if err := os.MkdirAll(o, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o, "ocsp-"+hex.EncodeToString(sum[:])+".json"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
