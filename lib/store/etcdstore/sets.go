package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdtools/mdtools/lib/store"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// txnRetries bounds how often a set operation is retried when a set
// changed between reading it and the transaction.
const txnRetries = 5

// set is a set as read at one revision.
type set struct {
	g    store.Group
	name string
	kvs  []*mvccpb.KeyValue
}

func (b *Backend) readSet(ctx context.Context, g store.Group, name string) (set, int64, error) {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	resp, err := b.cli.Get(rctx, b.setPrefix(g, name), clientv3.WithPrefix())
	if err != nil {
		return set{}, 0, b.failed("reading "+rel(g, name, ""), err)
	}
	return set{g: g, name: name, kvs: resp.Kvs}, resp.Header.Revision, nil
}

// unchanged compares a set read at rev: the same keys at the same
// revisions, nothing added since.
func (b *Backend) unchanged(s set, rev int64) []clientv3.Cmp {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(b.setPrefix(s.g, s.name)), "<", rev+1).WithPrefix()}
	for _, kv := range s.kvs {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision))
	}
	return cmps
}

// relocate returns the puts that recreate the files of s in the set
// g/name (resealing private keys for their new path) and the keys written.
func (b *Backend) relocate(s set, g store.Group, name string) ([]clientv3.Op, map[string]bool, int, error) {
	var ops []clientv3.Op
	keys := map[string]bool{}
	n := 0
	sp := b.setPrefix(s.g, s.name)
	for _, kv := range s.kvs {
		file := string(kv.Key)[len(sp):]
		val, err := b.reseal(rel(s.g, s.name, file), rel(g, name, file), file, kv.Value)
		if err != nil {
			return nil, nil, 0, err
		}
		k := b.fileKey(g, name, file)
		ops = append(ops, clientv3.OpPut(k, string(val)))
		keys[k] = true
		n += len(k) + len(val)
	}
	return ops, keys, n, nil
}

// deletes returns the deletes of the keys of s that are not rewritten.
func deletes(s set, keep map[string]bool) []clientv3.Op {
	var ops []clientv3.Op
	for _, kv := range s.kvs {
		if !keep[string(kv.Key)] {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
	}
	return ops
}

func setNames(g store.Group, name string, what string) error {
	if err := store.CheckNames(g, name, ""); err != nil {
		return err
	}
	if name == "" || g == store.GroupRoot {
		return fmt.Errorf("%w: %s needs set names", store.ErrBadName, what)
	}
	return nil
}

// Move implements store.Backend: one transaction deletes the source's
// files and writes the target's, if the source is unchanged since it was
// read and the target has no file; else nothing changes.
func (b *Backend) Move(ctx context.Context, from store.Group, fromName string, to store.Group, toName string) error {
	if err := setNames(from, fromName, "move"); err != nil {
		return err
	}
	if err := setNames(to, toName, "move"); err != nil {
		return err
	}
	what := fmt.Sprintf("moving %s to %s", rel(from, fromName, ""), rel(to, toName, ""))
	for range txnRetries {
		src, rev, err := b.readSet(ctx, from, fromName)
		if err != nil {
			return err
		}
		if len(src.kvs) == 0 {
			return fmt.Errorf("%s: %w", what, notExist("move", rel(from, fromName, "")))
		}
		puts, _, n, err := b.relocate(src, to, toName)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := b.fits(what, n); err != nil {
			return err
		}
		dst := b.setPrefix(to, toName)
		cmps := append(b.unchanged(src, rev), clientv3.Compare(clientv3.CreateRevision(dst), "=", 0).WithPrefix())
		ok, resp, err := b.txn(ctx, what, cmps, append(deletes(src, nil), puts...),
			clientv3.OpGet(dst, clientv3.WithPrefix(), clientv3.WithCountOnly()))
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if resp.Responses[0].GetResponseRange().Count > 0 {
			return fmt.Errorf("%s: target exists: %w", what, fs.ErrExist)
		}
	}
	return fmt.Errorf("%s: the set kept changing during %d attempts", what, txnRetries)
}

// Exchange implements store.Backend: one transaction swaps the files of
// two existing sets, if neither changed since they were read.
func (b *Backend) Exchange(ctx context.Context, g1 store.Group, n1 string, g2 store.Group, n2 string) error {
	if err := setNames(g1, n1, "exchange"); err != nil {
		return err
	}
	if err := setNames(g2, n2, "exchange"); err != nil {
		return err
	}
	what := fmt.Sprintf("exchanging %s and %s", rel(g1, n1, ""), rel(g2, n2, ""))
	if g1 == g2 && n1 == n2 {
		return fmt.Errorf("%w: %s: a set with itself", store.ErrBadName, what)
	}
	for range txnRetries {
		s1, rev1, err := b.readSet(ctx, g1, n1)
		if err != nil {
			return err
		}
		s2, rev2, err := b.readSet(ctx, g2, n2)
		if err != nil {
			return err
		}
		for _, s := range []set{s1, s2} {
			if len(s.kvs) == 0 {
				return fmt.Errorf("%s: %w", what, notExist("exchange", rel(s.g, s.name, "")))
			}
		}
		to1, keep1, sz1, err := b.relocate(s2, g1, n1)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		to2, keep2, sz2, err := b.relocate(s1, g2, n2)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := b.fits(what, sz1+sz2); err != nil {
			return err
		}
		ops := append(deletes(s1, keep1), deletes(s2, keep2)...)
		ops = append(append(ops, to1...), to2...)
		ok, _, err := b.txn(ctx, what, append(b.unchanged(s1, rev1), b.unchanged(s2, rev2)...), ops)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("%s: the sets kept changing during %d attempts", what, txnRetries)
}

// txn commits If(cmps).Then(ops).Else(orElse).
func (b *Backend) txn(ctx context.Context, what string, cmps []clientv3.Cmp, ops []clientv3.Op, orElse ...clientv3.Op) (bool, *clientv3.TxnResponse, error) {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	resp, err := b.cli.Txn(rctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil, b.failed(what, err)
		}
		return false, nil, b.failed(what+fmt.Sprintf(" (one transaction of %d comparisons and %d operations)", len(cmps), len(ops)), err)
	}
	return resp.Succeeded, resp, nil
}
