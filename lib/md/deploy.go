package md

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// Default modes of deployed files: certificates world-readable, keys
// (and the combined key+chain file) owner-only.
const (
	DefaultDeployCertMode os.FileMode = 0o644
	DefaultDeployKeyMode  os.FileMode = 0o600
)

// DeployPerms is what a Deploy section asks for deployed files: owner and
// group as numeric IDs (-1: unchanged) and the file modes.
type DeployPerms struct {
	UID, GID      int
	Mode, KeyMode os.FileMode
}

// Perms resolves the owner and group names and parses the octal modes;
// md-install (certificate sets) and md-staple (OCSP files) both deploy
// by it. A nil Deploy gives the defaults.
func (d *Deploy) Perms() (DeployPerms, error) {
	p := DeployPerms{UID: -1, GID: -1, Mode: DefaultDeployCertMode, KeyMode: DefaultDeployKeyMode}
	if d == nil {
		return p, nil
	}
	if d.Owner != "" {
		u, err := user.Lookup(d.Owner)
		if err != nil {
			return p, fmt.Errorf("deploy owner %q: %w", d.Owner, err)
		}
		p.UID, _ = strconv.Atoi(u.Uid)
	}
	if d.Group != "" {
		g, err := user.LookupGroup(d.Group)
		if err != nil {
			return p, fmt.Errorf("deploy group %q: %w", d.Group, err)
		}
		p.GID, _ = strconv.Atoi(g.Gid)
	}
	for _, m := range []struct {
		text string
		dst  *os.FileMode
		what string
	}{{d.Mode, &p.Mode, "mode"}, {d.KeyMode, &p.KeyMode, "key-mode"}} {
		if m.text == "" {
			continue
		}
		v, err := strconv.ParseUint(m.text, 8, 32)
		if err != nil || v > 0o777 {
			return p, fmt.Errorf("deploy %s %q is not an octal file mode like 0640", m.what, m.text)
		}
		*m.dst = os.FileMode(v)
	}
	return p, nil
}
