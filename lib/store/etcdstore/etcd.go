// Package etcdstore is the etcd v3 backend of lib/store: one store shared
// by many nodes. It implements store.Backend on go.etcd.io/etcd/client/v3.
//
// Key layout, mirroring the filesystem store under one prefix:
//
//	<prefix>/<file>                  root files (md_store.json, httpd.json, ari-*.json)
//	<prefix>/<group>/<name>/<file>   the files of a set (domains/a.org/pubcert.pem)
//	<prefix>/store.lock/<lease>      the store-wide lock (a concurrency.Mutex)
//	<prefix>/locks/<name>/<lease>    the per-MD locks
//
// Every value is an envelope: one header line "mdtools-etcd 1 <mtime in
// Unix nanoseconds> <encoding>" and the content. Private keys (store.IsKeyFile)
// are sealed with AES-256-GCM under a node-local key that never enters etcd
// (see seal.go); everything else is stored as written. A set exists while
// it has a file; Move, Exchange and Purge change a set whole in one etcd
// transaction or not at all.
package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/store"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultPrefix          = "/mdtools"
	DefaultLockTTL         = 30 * time.Second
	DefaultRequestTimeout  = 10 * time.Second
	DefaultMaxRequestBytes = 1536 * 1024 // etcd's --max-request-bytes default, 1.5 MiB
	// requestOverhead is what etcd adds to key and value in a request.
	requestOverhead = 512
)

// Config says which etcd cluster and which store in it.
type Config struct {
	Endpoints []string // host:port of each member
	Prefix    string   // the store's key prefix, e.g. "/mdtools"
	// CACert, Cert and Key are PEM files for TLS (etcdctl's --cacert,
	// --cert, --key); any of them switches TLS on.
	CACert, Cert, Key string
	// User and Password authenticate (etcdctl's --user, --password).
	User, Password string
	// KeyFile is the node-local file holding the key that seals private
	// keys (MD_STORE_KEY_FILE); read when a key file is first read or
	// written.
	KeyFile string
	// Node names this node in the locks it holds, so that another node
	// finding one taken learns that the work is in progress elsewhere
	// (store.ElsewhereError); "" says nothing.
	Node string
	// LockTTL is the lease of the locks: a node that dies loses its locks
	// this long after its last keep-alive (default 30 s).
	LockTTL time.Duration
	// RequestTimeout bounds each request (default 10 s).
	RequestTimeout time.Duration
	// MaxRequestBytes is the cluster's --max-request-bytes (default 1.5 MiB).
	MaxRequestBytes int
}

// Backend is a store.Backend on etcd. Close it to release its locks.
type Backend struct {
	cli    *clientv3.Client
	cfg    Config
	prefix string
	desc   string
	seal   *sealer

	mu    sync.Mutex
	sess  *concurrency.Session
	local map[string]chan struct{} // in-process exclusion of Lock calls
}

var _ store.Backend = (*Backend)(nil)

// New connects to etcd. It does not wait for the cluster: the first
// request fails, within RequestTimeout, if no member answers.
func New(cfg Config) (*Backend, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints")
	}
	prefix, err := cleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = DefaultLockTTL
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	var tlsCfg *tls.Config
	if cfg.CACert != "" || cfg.Cert != "" || cfg.Key != "" {
		if (cfg.Cert == "") != (cfg.Key == "") {
			return nil, errors.New("etcd store: a client certificate needs both --etcd-cert and --etcd-key")
		}
		info := transport.TLSInfo{TrustedCAFile: cfg.CACert, CertFile: cfg.Cert, KeyFile: cfg.Key}
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd store: TLS: %w", err)
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.RequestTimeout,
		TLS:         tlsCfg,
		Username:    cfg.User,
		Password:    cfg.Password,
		Logger:      zap.NewNop(),
		// the client's own limit must not be the one a large write hits
		MaxCallSendMsgSize: cfg.MaxRequestBytes + 1<<20,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd store %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	b := &Backend{cli: cli, cfg: cfg, prefix: prefix, local: map[string]chan struct{}{},
		seal: &sealer{path: cfg.KeyFile}}
	b.desc = "etcd://" + strings.Join(cfg.Endpoints, ",") + prefix
	return b, nil
}

func cleanPrefix(p string) (string, error) {
	if p == "" || p == "/" {
		return DefaultPrefix, nil
	}
	p = "/" + strings.Trim(p, "/")
	for _, part := range strings.Split(p[1:], "/") {
		if store.CheckName(part) != nil {
			return "", fmt.Errorf("etcd store: prefix %q: each part must be a name of letters, digits, '.', '-', '_'", p)
		}
	}
	return p, nil
}

// String names the store: etcd://host:port,.../prefix.
func (b *Backend) String() string { return b.desc }

// Client is the etcd client, for tests and tools that watch.
func (b *Backend) Client() *clientv3.Client { return b.cli }

// Close releases the locks this handle holds (revoking its lease) and
// closes the connection.
func (b *Backend) Close() error {
	b.mu.Lock()
	s := b.sess
	b.sess = nil
	b.mu.Unlock()
	if s != nil {
		// Session.Close would wait up to the lease TTL for an etcd that
		// is gone; revoke within one request's time instead (a lease not
		// revoked expires by itself)
		s.Orphan()
		rctx, cancel := b.ctx(context.Background())
		_, _ = b.cli.Revoke(rctx, s.Lease())
		cancel()
	}
	return b.cli.Close()
}

// fileKey is the etcd key of a file; rel the same without the prefix.
func (b *Backend) fileKey(g store.Group, name, file string) string {
	return b.prefix + "/" + rel(g, name, file)
}

func rel(g store.Group, name, file string) string {
	if g == store.GroupRoot {
		return file
	}
	if file == "" {
		return string(g) + "/" + name
	}
	return string(g) + "/" + name + "/" + file
}

func (b *Backend) setPrefix(g store.Group, name string) string {
	return b.prefix + "/" + string(g) + "/" + name + "/"
}

// ctx bounds one request.
func (b *Backend) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.RequestTimeout)
}

// failed wraps an etcd error with what was being done and where.
func (b *Backend) failed(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("etcd store %s: %s: no answer from etcd within %s: %w", b.desc, what, b.cfg.RequestTimeout, err)
	}
	return fmt.Errorf("etcd store %s: %s: %w", b.desc, what, err)
}

func notExist(op, path string) error {
	return &fs.PathError{Op: op, Path: path, Err: fs.ErrNotExist}
}

// Read implements store.Backend.
func (b *Backend) Read(ctx context.Context, g store.Group, name, file string) ([]byte, error) {
	if err := store.CheckNames(g, name, file); err != nil {
		return nil, err
	}
	if file == "" {
		return nil, fmt.Errorf("%w: no file name", store.ErrBadName)
	}
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	r := rel(g, name, file)
	resp, err := b.cli.Get(rctx, b.fileKey(g, name, file))
	if err != nil {
		return nil, b.failed("reading "+r, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, notExist("read", r)
	}
	v, err := b.open(r, resp.Kvs[0].Value)
	if err != nil {
		return nil, err
	}
	return v.data, nil
}

// Write implements store.Backend: one put, atomic by nature. Private keys
// are sealed first; a value over etcd's request limit is refused.
func (b *Backend) Write(ctx context.Context, g store.Group, name, file string, data []byte) error {
	if err := store.CheckNames(g, name, file); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("%w: no file name", store.ErrBadName)
	}
	r := rel(g, name, file)
	key := b.fileKey(g, name, file)
	val, err := b.sealValue(r, file, time.Now(), data)
	if err != nil {
		return err
	}
	if err := b.fits(r, len(key)+len(val)); err != nil {
		return err
	}
	if err := b.idempotent(ctx, func(rctx context.Context) error {
		_, err := b.cli.Put(rctx, key, string(val))
		return err
	}); err != nil {
		return b.failed("writing "+r, err)
	}
	return nil
}

// fits refuses a request of n bytes over the cluster's limit.
func (b *Backend) fits(what string, n int) error {
	if n+requestOverhead > b.cfg.MaxRequestBytes {
		return fmt.Errorf("etcd store %s: %s: %d bytes exceed etcd's request limit of %s (--max-request-bytes)",
			b.desc, what, n, size(b.cfg.MaxRequestBytes))
	}
	return nil
}

func size(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// ModTime implements store.Backend. A set's time is its newest file's.
func (b *Backend) ModTime(ctx context.Context, g store.Group, name, file string) (time.Time, error) {
	if err := store.CheckNames(g, name, file); err != nil {
		return time.Time{}, err
	}
	r := rel(g, name, file)
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	var resp *clientv3.GetResponse
	var err error
	switch {
	case file != "" || g == store.GroupRoot && name == "":
		resp, err = b.cli.Get(rctx, b.fileKey(g, name, file))
	case name == "":
		resp, err = b.cli.Get(rctx, b.prefix+"/"+string(g)+"/", clientv3.WithPrefix())
	default:
		resp, err = b.cli.Get(rctx, b.setPrefix(g, name), clientv3.WithPrefix())
	}
	if err != nil {
		return time.Time{}, b.failed("stat "+r, err)
	}
	var newest time.Time
	for _, kv := range resp.Kvs {
		t, err := b.mtime(string(kv.Key), kv.Value)
		if err != nil {
			return time.Time{}, err
		}
		if t.After(newest) {
			newest = t
		}
	}
	if len(resp.Kvs) == 0 {
		return time.Time{}, notExist("stat", r)
	}
	return newest, nil
}

// List implements store.Backend: the sets of a group, sorted. The root
// holds no sets here (its directories are the groups).
func (b *Backend) List(ctx context.Context, g store.Group) ([]string, error) {
	if err := store.CheckGroup(g); err != nil {
		return nil, err
	}
	if g == store.GroupRoot {
		return nil, nil
	}
	gp := b.prefix + "/" + string(g) + "/"
	keys, err := b.keys(ctx, gp, "listing "+string(g))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, k := range keys {
		n, _, ok := strings.Cut(k[len(gp):], "/")
		if ok && store.CheckName(n) == nil && (len(names) == 0 || names[len(names)-1] != n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// ListFiles implements store.Backend: the files of one set, sorted.
func (b *Backend) ListFiles(ctx context.Context, g store.Group, name string) ([]string, error) {
	if err := store.CheckNames(g, name, ""); err != nil {
		return nil, err
	}
	if name == "" && g != store.GroupRoot {
		return nil, fmt.Errorf("%w: listing files in %s needs a set name", store.ErrBadName, g)
	}
	p := b.prefix + "/"
	if g != store.GroupRoot {
		p = b.setPrefix(g, name)
	}
	keys, err := b.keys(ctx, p, "listing "+rel(g, name, ""))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, k := range keys {
		f := k[len(p):]
		if !strings.Contains(f, "/") && store.CheckNames(g, name, f) == nil {
			files = append(files, f)
		}
	}
	slices.Sort(files)
	return files, nil
}

// keys lists the keys under a prefix (keys only, sorted).
func (b *Backend) keys(ctx context.Context, prefix, what string) ([]string, error) {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	resp, err := b.cli.Get(rctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, b.failed(what, err)
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	return keys, nil
}

// Remove implements store.Backend; a missing file is not an error.
func (b *Backend) Remove(ctx context.Context, g store.Group, name, file string) error {
	if err := store.CheckNames(g, name, file); err != nil {
		return err
	}
	if file == "" {
		return fmt.Errorf("%w: no file name", store.ErrBadName)
	}
	if err := b.idempotent(ctx, func(rctx context.Context) error {
		_, err := b.cli.Delete(rctx, b.fileKey(g, name, file))
		return err
	}); err != nil {
		return b.failed("removing "+rel(g, name, file), err)
	}
	return nil
}

// Purge implements store.Backend: one delete of the set's whole range,
// atomic in etcd; a missing set is not an error.
func (b *Backend) Purge(ctx context.Context, g store.Group, name string) error {
	if err := store.CheckNames(g, name, ""); err != nil || name == "" || g == store.GroupRoot {
		return fmt.Errorf("%w: purge needs a set name", store.ErrBadName)
	}
	if err := b.idempotent(ctx, func(rctx context.Context) error {
		_, err := b.cli.Delete(rctx, b.setPrefix(g, name), clientv3.WithPrefix())
		return err
	}); err != nil {
		return b.failed("purging "+rel(g, name, ""), err)
	}
	return nil
}
