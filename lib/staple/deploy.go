package staple

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// DeployFile is where the DER OCSP response for an MD's key spec goes when
// the host deploys PEM files for other servers: next to md-install's
// fullchain file, with ".ocsp" appended (HAProxy's <crt>.ocsp convention;
// nginx reads it with ssl_stapling_file):
//
//	<deploy-dir>/<md>/fullchain.pem.ocsp            (rsa / default key)
//	<deploy-dir>/<md>/fullchain.<spec>.pem.ocsp     (other key specs)
func DeployFile(dir, mdName string, ks md.KeySpec) string {
	return filepath.Join(dir, mdName, ks.FileName("fullchain")+".ocsp")
}

// writeDeploy writes the DER response atomically, unless the file already
// holds exactly these bytes. Mode and ownership follow the deploy config
// (certificate mode, default 0644).
func writeDeploy(path string, der []byte, d *md.Deploy) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, der) {
		return false, nil
	}
	mode := os.FileMode(0o644)
	if d != nil && d.Mode != "" {
		m, err := strconv.ParseUint(d.Mode, 8, 32)
		if err != nil || m > 0o777 {
			return false, fmt.Errorf("deploy mode %q is not an octal file mode", d.Mode)
		}
		mode = os.FileMode(m)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	if err := store.WriteFileAtomic(path, der, mode); err != nil {
		return false, err
	}
	if d != nil && (d.Owner != "" || d.Group != "") {
		uid, gid := -1, -1
		if d.Owner != "" {
			u, err := user.Lookup(d.Owner)
			if err != nil {
				return true, fmt.Errorf("deploy owner: %w", err)
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
		if d.Group != "" {
			g, err := user.LookupGroup(d.Group)
			if err != nil {
				return true, fmt.Errorf("deploy group: %w", err)
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return true, fmt.Errorf("setting owner of %s: %w", path, err)
		}
	}
	return true, nil
}
