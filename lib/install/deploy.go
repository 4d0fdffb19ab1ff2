package install

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
)

// Deploy layout. The record's host.deploy.dir is the MD's own directory
// (md.toml: <deploy-dir>/<md-name> from [global], or a domain's deploy-dir
// itself). md-install manages it as a symlink to a hidden sibling:
//
//	/etc/ssl/mdtools/a.org -> .a.org.<random>    flipped atomically by rename(2)
//	/etc/ssl/mdtools/.a.org.<random>/
//	    cert.pem        the leaf certificate                     (mode)
//	    chain.pem       the intermediates                        (mode)
//	    fullchain.pem   leaf + intermediates (nginx, Postfix)    (mode)
//	    privkey.pem     the private key, PKCS#8, unencrypted     (key-mode)
//	    combined.pem    fullchain + key in one file (HAProxy)    (key-mode)
//
// for the first RSA key spec; other key specs use the store's naming:
// cert.secp384r1.pem, fullchain.secp384r1.pem, ... A new set is written to a
// new hidden directory and becomes current by replacing the symlink in one
// rename, so a reader that resolves D/a.org once (or reads combined.pem)
// never sees a new certificate beside an old key.
const (
	defaultDirMode = 0o755
)

// deployFileBases are the per-spec files of a deploy set.
var deployFileBases = []string{"cert", "chain", "fullchain", "privkey", "combined"}

// deployPlan is a deploy set written but not yet made current.
type deployPlan struct {
	dir, name string
	newDir    string // absolute path of the new hidden directory
}

// deployPath is the current (symlink) path of an MD's deploy set.
func deployPath(d *md.Deploy, _ string) string { return filepath.Clean(d.Dir) }

// deployer caches, per run, what it learnt about deploy directories: that
// they exist, and which hidden sets they hold (read once, not once per MD).
type deployer struct {
	mu   sync.Mutex
	dirs map[string]*deployDir
}

type deployDir struct {
	once   sync.Once
	err    error
	hidden map[string][]string // md name -> its hidden entries
}

// dir creates the deploy directory if needed and lists it once.
func (dp *deployer) dir(path string) (*deployDir, error) {
	dp.mu.Lock()
	if dp.dirs == nil {
		dp.dirs = map[string]*deployDir{}
	}
	dd := dp.dirs[path]
	if dd == nil {
		dd = &deployDir{}
		dp.dirs[path] = dd
	}
	dp.mu.Unlock()
	dd.once.Do(func() {
		if err := os.MkdirAll(path, defaultDirMode); err != nil {
			dd.err = fmt.Errorf("creating deploy dir: %w", err)
			return
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			dd.err = fmt.Errorf("reading deploy dir: %w", err)
			return
		}
		dd.hidden = map[string][]string{}
		for _, e := range entries {
			if name, ok := hiddenSetOf(e.Name()); ok {
				dd.hidden[name] = append(dd.hidden[name], e.Name())
			}
		}
	})
	return dd, dd.err
}

// hiddenSetOf parses md-install's hidden names ".<md>.<12 hex>[.link]".
func hiddenSetOf(entry string) (string, bool) {
	rest, ok := strings.CutPrefix(entry, ".")
	if !ok {
		return "", false
	}
	rest = strings.TrimSuffix(rest, ".link")
	if len(rest) < 14 || rest[len(rest)-13] != '.' || !isHex(rest[len(rest)-12:]) {
		return "", false
	}
	return rest[:len(rest)-13], true
}

// prepareDeploy writes a new deploy set for the credentials into a new
// hidden directory, without syncing; commit makes it current. Sets left by
// a run that died before its commit are removed first.
func (dp *deployer) prepare(d *md.Deploy, _ string, creds []credential) (*deployPlan, error) {
	if !filepath.IsAbs(d.Dir) || filepath.Clean(d.Dir) == "/" {
		return nil, fmt.Errorf("deploy dir %q is not an absolute path below /", d.Dir)
	}
	perms, err := d.Perms()
	if err != nil {
		return nil, err
	}
	cur := filepath.Clean(d.Dir)
	parent, base := filepath.Dir(cur), filepath.Base(cur)
	dd, err := dp.dir(parent)
	if err != nil {
		return nil, err
	}
	target, err := os.Readlink(cur)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s exists and is not a symlink made by md-install (it manages that path as a symlink to a hidden sibling directory); move it away", cur)
	}
	dp.mu.Lock()
	stale := dd.hidden[base]
	delete(dd.hidden, base)
	dp.mu.Unlock()
	for _, h := range stale {
		if h != target {
			_ = os.RemoveAll(filepath.Join(parent, h))
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	p := &deployPlan{dir: parent, name: base, newDir: filepath.Join(parent, "."+base+"."+hex.EncodeToString(rnd[:]))}
	if err := os.Mkdir(p.newDir, defaultDirMode); err != nil {
		return nil, fmt.Errorf("creating deploy set: %w", err)
	}
	if err := p.write(creds, perms); err != nil {
		p.abort()
		return nil, err
	}
	return p, nil
}

func (p *deployPlan) write(creds []credential, perms md.DeployPerms) error {
	if perms.UID >= 0 || perms.GID >= 0 {
		if err := os.Lchown(p.newDir, perms.UID, perms.GID); err != nil {
			return fmt.Errorf("deploy set: %w", err)
		}
	}
	for _, c := range creds {
		keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
		if err != nil {
			return fmt.Errorf("encoding %s key: %w", c.spec.Name(), err)
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
		leaf := pemCerts(c.chain[:1])
		chain := pemCerts(c.chain[1:])
		full := append(append([]byte{}, leaf...), chain...)
		combined := append(append([]byte{}, full...), keyPEM...)
		files := map[string][]byte{"cert": leaf, "chain": chain, "fullchain": full, "privkey": keyPEM, "combined": combined}
		for _, base := range deployFileBases {
			mode := perms.Mode
			if base == "privkey" || base == "combined" {
				mode = perms.KeyMode
			}
			path := filepath.Join(p.newDir, c.spec.FileName(base))
			if err := writeNew(path, files[base], mode, perms.UID, perms.GID); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeNew(path string, data []byte, mode os.FileMode, uid, gid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode&0o700)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil && (uid >= 0 || gid >= 0) {
		err = f.Chown(uid, gid)
	}
	if err == nil && (mode&0o077 != 0 || uid >= 0 || gid >= 0) {
		err = f.Chmod(mode) // exact despite the umask; after chown, which may clear bits
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func pemCerts(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// commit makes the prepared set current: a new symlink is renamed over the
// old one (atomic), then the previous set is removed.
func (p *deployPlan) commit() error {
	cur := filepath.Join(p.dir, p.name)
	old, _ := os.Readlink(cur)
	tmpLink := p.newDir + ".link"
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(p.newDir), tmpLink); err != nil {
		return fmt.Errorf("deploying %s: %w", cur, err)
	}
	if err := os.Rename(tmpLink, cur); err != nil {
		os.Remove(tmpLink)
		return fmt.Errorf("deploying %s: %w", cur, err)
	}
	hook("deploy-flipped", p.name)
	if old != "" && !strings.Contains(old, "/") && strings.HasPrefix(old, "."+p.name+".") && old != filepath.Base(p.newDir) {
		_ = os.RemoveAll(filepath.Join(p.dir, old))
	}
	return nil
}

// abort removes a prepared set that will not be used.
func (p *deployPlan) abort() { _ = os.RemoveAll(p.newDir) }

// deployCurrent reports whether the deploy set of an MD holds the given
// live certificates, with its files in place.
func deployCurrent(d *md.Deploy, name string, live []credential) bool {
	for _, c := range live {
		data, err := fsread.ReadFile(filepath.Join(deployPath(d, name), c.spec.FileName("cert")), fsread.MaxPEM)
		if err != nil {
			return false
		}
		block, _ := pem.Decode(data)
		if block == nil || !bytes.Equal(block.Bytes, c.leafRaw()) {
			return false
		}
	}
	return len(live) > 0
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// staleSets returns the hidden entries of an MD's deploy directory that its
// symlink does not point to: sets (with their private keys) and temporary
// links left by a run killed between writing a set and removing the one it
// replaced. The caller holds the MD's lock, under which they are written.
func (dp *deployer) staleSets(d *md.Deploy) ([]string, error) {
	cur := filepath.Clean(d.Dir)
	parent, base := filepath.Dir(cur), filepath.Base(cur)
	dd, err := dp.dir(parent)
	if err != nil {
		return nil, err
	}
	target, _ := os.Readlink(cur)
	dp.mu.Lock()
	hidden := dd.hidden[base]
	delete(dd.hidden, base)
	dp.mu.Unlock()
	var stale []string
	for _, h := range hidden {
		if h != target {
			stale = append(stale, filepath.Join(parent, h))
		}
	}
	return stale, nil
}
