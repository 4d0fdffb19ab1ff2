package challenge

import (
	"context"
	"os"

	"github.com/mdtools/mdtools/lib/store"
)

// handOver gives a domain's challenge files to the owner of the store's
// challenges/ directory when that is not us. Apache's mod_md makes that
// directory its worker user's at startup (md_make_worker_accessible) and
// its workers read the files when they answer, so a store written by root
// must hand them over, or Apache cannot read a tls-alpn-01 key (0600).
// Only when running as root and only for a backend whose files have owners
// (store.Owner): on any other there are no files for Apache's workers to
// read. Failures are logged, not fatal: a standalone responder does not
// need it. The store does it through descriptors, never following a link.
func (m *Manager) handOver(ctx context.Context, dns string) {
	o, ok := m.st.Backend().(store.Owner)
	if !ok || os.Geteuid() != 0 {
		return
	}
	if _, err := o.HandOver(ctx, store.GroupChallenges, dns); err != nil {
		m.log.Warnf("%s: handing challenge file to the web server's user: %v", dns, err)
	}
}
