package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	ucli "github.com/urfave/cli/v2"
)

// EtcdOptions say how to reach an etcd store (etcd://host:port,.../prefix)
// and how to seal private keys in it. The flags and environment variables
// are those etcdctl takes, so one environment serves both.
type EtcdOptions struct {
	CACert, Cert, Key string // --etcd-cacert, --etcd-cert, --etcd-key; $ETCDCTL_CACERT, ...
	User, Password    string // --etcd-user NAME[:PASSWORD]; $ETCDCTL_USER, $ETCDCTL_PASSWORD
	KeyFile           string // --store-key-file; $MD_STORE_KEY_FILE
	LockTTL           string // $MD_STORE_LOCK_TTL (a duration; "" for 30 s)
}

// LockTTLEnv sets the lease of an etcd store's locks: how long after a
// node's death its locks (and the MDs it was working on) are free again.
const LockTTLEnv = "MD_STORE_LOCK_TTL"

// lockTTL parses $MD_STORE_LOCK_TTL: whole seconds, 2 s to 1 h; 0 for
// the default.
func lockTTL(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 2*time.Second || d > time.Hour || d%time.Second != 0 {
		return 0, &UsageError{Err: fmt.Errorf("$%s=%q: want whole seconds from 2s to 1h, e.g. 30s", LockTTLEnv, v)}
	}
	return d, nil
}

// EtcdFlags are the flags of an etcd store, for every command that takes
// --store.
func EtcdFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "etcd-cacert", Usage: "etcd store: verify the members with the CA certificates in `FILE` (default $ETCDCTL_CACERT)"},
		&ucli.StringFlag{Name: "etcd-cert", Usage: "etcd store: TLS client certificate `FILE` (default $ETCDCTL_CERT)"},
		&ucli.StringFlag{Name: "etcd-key", Usage: "etcd store: TLS client key `FILE` (default $ETCDCTL_KEY)"},
		&ucli.StringFlag{Name: "etcd-user", Usage: "etcd store: authenticate as `NAME[:PASSWORD]` (default $ETCDCTL_USER; password also $ETCDCTL_PASSWORD)"},
		&ucli.StringFlag{Name: "store-key-file", Usage: "etcd store: the node-local key `FILE` that seals private keys (default $" + etcdstore.KeyFileEnv + ")"},
	}
}

// EtcdOptionsFor reads the etcd flags, else the environment.
func EtcdOptionsFor(c *ucli.Context, env Env) EtcdOptions {
	pick := func(flag, envName string) string {
		if c != nil && hasFlag(c, flag) {
			if v := c.String(flag); v != "" {
				return v
			}
		}
		return env.Var(envName)
	}
	o := EtcdOptions{
		CACert:   pick("etcd-cacert", "ETCDCTL_CACERT"),
		Cert:     pick("etcd-cert", "ETCDCTL_CERT"),
		Key:      pick("etcd-key", "ETCDCTL_KEY"),
		User:     pick("etcd-user", "ETCDCTL_USER"),
		Password: env.Var("ETCDCTL_PASSWORD"),
		KeyFile:  pick("store-key-file", etcdstore.KeyFileEnv),
		LockTTL:  env.Var(LockTTLEnv),
	}
	if name, pass, ok := strings.Cut(o.User, ":"); ok {
		o.User, o.Password = name, pass
	}
	return o
}

// IsEtcd reports whether a store names an etcd store.
func IsEtcd(dir string) bool { return strings.HasPrefix(dir, "etcd://") }

// ParseEtcdURL splits etcd://host1:2379,host2:2379/prefix into the
// endpoints and the prefix ("" for the default).
func ParseEtcdURL(u string) (endpoints []string, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "etcd://")
	if !ok {
		return nil, "", fmt.Errorf("store %s: not an etcd:// URL", u)
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	for _, h := range strings.Split(hosts, ",") {
		if h == "" || strings.ContainsAny(h, " \t?#@") || !strings.Contains(h, ":") {
			return nil, "", fmt.Errorf("store %s: each etcd endpoint must be host:port, got %q", u, h)
		}
		endpoints = append(endpoints, h)
	}
	return endpoints, prefix, nil
}

// etcdBackend connects to the etcd store ch names.
func etcdBackend(ch ChosenStore) (*etcdstore.Backend, error) {
	eps, prefix, err := ParseEtcdURL(ch.Dir)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	o := ch.Etcd
	ttl, err := lockTTL(o.LockTTL)
	if err != nil {
		return nil, err
	}
	return etcdstore.New(etcdstore.Config{Endpoints: eps, Prefix: prefix,
		CACert: o.CACert, Cert: o.Cert, Key: o.Key, User: o.User, Password: o.Password, KeyFile: o.KeyFile,
		Node: md.Node(), LockTTL: ttl})
}

// Open opens, read-write (creating it if new), the store ch names: a
// directory or an etcd store.
func Open(ctx context.Context, ch ChosenStore) (*store.Store, error) {
	if !IsEtcd(ch.Dir) {
		return store.Open(ctx, ch.Dir)
	}
	b, err := etcdBackend(ch)
	if err != nil {
		return nil, err
	}
	st, err := store.OpenBackend(ctx, b, b.String())
	if err != nil {
		b.Close()
		return nil, err
	}
	return st, nil
}

// OpenReadOnly opens the store ch names for reading only; it creates
// nothing.
func OpenReadOnly(ctx context.Context, ch ChosenStore) (*store.Store, error) {
	if !IsEtcd(ch.Dir) {
		return store.OpenReadOnly(ch.Dir)
	}
	b, err := etcdBackend(ch)
	if err != nil {
		return nil, err
	}
	return store.OpenBackendReadOnly(b, b.String()), nil
}

// Initialized reports whether the store ch names exists already (has its
// md_store.json), creating nothing.
func Initialized(ctx context.Context, ch ChosenStore) bool {
	if !IsEtcd(ch.Dir) {
		return store.Initialized(ctx, ch.Dir)
	}
	st, err := OpenReadOnly(ctx, ch)
	if err != nil {
		return false
	}
	defer st.Close()
	return st.Exists(ctx, store.GroupRoot, "", store.FileStore)
}

// OpenDryRun opens the store read-only, for a dry run that must change
// nothing, not even by creating a store that does not exist yet: it then
// looks empty (done removes the empty stand-in).
func OpenDryRun(ctx context.Context, ch ChosenStore) (st *store.Store, done func(), err error) {
	if !IsEtcd(ch.Dir) {
		if _, err := os.Stat(ch.Dir); errors.Is(err, fs.ErrNotExist) {
			empty, err := os.MkdirTemp("", "mdtools-dry-run-")
			if err != nil {
				return nil, nil, err
			}
			ch.Dir, done = empty, func() { os.Remove(empty) }
		}
	}
	st, err = OpenReadOnly(ctx, ch)
	if err != nil {
		return nil, done, &Hinted{Err: err, Hint: "check the records' \"store\" / --store / $MD_STORE"}
	}
	if done == nil {
		done = func() { st.Close() }
	}
	return st, done, nil
}

// OpenBackend opens the backend of the store ch names, read-write, without
// the typed layer: nothing is written to it (no md_store.json is created),
// though a directory is created with its groups if missing, as a store
// directory is. close releases it.
func OpenBackend(ch ChosenStore) (b store.Backend, close func(), err error) {
	if !IsEtcd(ch.Dir) {
		fsb, err := store.NewFS(ch.Dir)
		if err != nil {
			return nil, nil, err
		}
		return fsb, func() {}, nil
	}
	eb, err := etcdBackend(ch)
	if err != nil {
		return nil, nil, err
	}
	return eb, func() { eb.Close() }, nil
}
