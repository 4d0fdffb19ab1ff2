package staple

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// DeployFile is where the DER OCSP response for an MD's key spec goes when
// the host deploys PEM files for other servers. dir is the MD's own deploy
// path (host.deploy.dir: md.toml's deploy-dir plus the MD name, which
// md-install makes a symlink to its current set): next to the combined
// key+chain file, with ".ocsp" appended, which is HAProxy's convention for
// "crt <deploy-dir>/<md>/combined.pem"; nginx reads the same file with
// "ssl_stapling_file":
//
//	<deploy-dir>/<md>/combined.pem.ocsp            (rsa / default key)
//	<deploy-dir>/<md>/combined.<spec>.pem.ocsp     (other key specs)
//
// The file lives in the deploy set of the certificate it belongs to: when
// md-install switches to a new set, the old response goes with the old set.
func DeployFile(dir string, ks md.KeySpec) string {
	return filepath.Join(dir, ks.FileName("combined")+".ocsp")
}

// errNotDeployed is a deploy directory md-install has not made yet.
var errNotDeployed = errors.New("not deployed yet")

// deployTarget writes a target's DER response into its deploy set, unless
// that set holds another certificate: on a fleet, a response for a new
// certificate can arrive (from the store) before md-install has deployed
// the certificate here; it must not go next to the old one.
func deployTarget(t *Target, der []byte) (bool, error) {
	if t.DeployCert != "" {
		deployed, err := fsread.ReadFile(t.DeployCert, 1<<20)
		if err == nil && !sameLeaf(deployed, t.PEM) {
			return false, fmt.Errorf("%s holds another certificate: %w", filepath.Dir(t.DeployCert), errNotDeployed)
		}
	}
	return writeDeploy(t.Deploy, der, t.Mode)
}

// sameLeaf reports whether two PEM chains start with the same certificate.
func sameLeaf(a, b []byte) bool {
	ba, _ := pem.Decode(a)
	bb, _ := pem.Decode(b)
	return ba != nil && bb != nil && bytes.Equal(ba.Bytes, bb.Bytes)
}

// writeDeploy writes the DER response atomically, unless the file already
// holds exactly these bytes. Mode and ownership follow the deploy config
// (certificate mode, default 0644).
func writeDeploy(path string, der []byte, d *md.Deploy) (bool, error) {
	// no more than the new bytes: anything else (larger, a FIFO) differs
	if old, err := fsread.ReadFile(path, int64(len(der))); err == nil && bytes.Equal(old, der) {
		return false, nil
	}
	perms, err := d.Perms()
	if err != nil {
		return false, err
	}
	// Never create the directory: it is md-install's symlink to the
	// current deploy set.
	if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%s: %w", filepath.Dir(path), errNotDeployed)
	}
	if err := store.WriteFileAtomic(path, der, perms.Mode); err != nil {
		return false, err
	}
	if perms.UID >= 0 || perms.GID >= 0 {
		if err := os.Chown(path, perms.UID, perms.GID); err != nil {
			return true, fmt.Errorf("setting owner of %s: %w", path, err)
		}
	}
	return true, nil
}
