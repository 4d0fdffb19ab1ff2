package challenge

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/mdtools/mdtools/lib/store"
)

// handOver gives a domain's challenge files to the owner of the store's
// challenges/ directory when that is not us. Apache's mod_md makes that
// directory its worker user's at startup (md_make_worker_accessible) and
// its workers read the files when they answer, so a store written by root
// must hand them over, or Apache cannot read a tls-alpn-01 key (0600).
// Only for the filesystem store and only when running as root; failures
// are logged, not fatal: a standalone responder does not need it.
func (m *Manager) handOver(dns string) {
	fsb, ok := m.st.Backend().(*store.FS)
	if !ok || os.Geteuid() != 0 {
		return
	}
	group := filepath.Join(fsb.Dir(), string(store.GroupChallenges))
	fi, err := os.Stat(group)
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	dir := filepath.Join(group, dns)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	paths := []string{dir}
	for _, e := range entries {
		if e.Type().IsRegular() {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	for _, p := range paths {
		if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
			m.log.Warnf("%s: handing challenge file to the web server's user: %v", dns, err)
			return
		}
	}
}
