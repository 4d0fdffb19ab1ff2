package store

import "context"

// Capabilities: what only some backends can do. A caller that needs one
// asks for it with a comma-ok assertion on the Store's backend (or the
// helpers below) and says clearly what is missing when it is absent;
// nothing above this package asserts a concrete backend type such as *FS.
//
// A distributed backend (etcd) has no local directory: its sets are not
// files Apache can open, so the commands that need one (md-install writing
// Apache snippets, md-challenge handing files to Apache's worker user)
// must be told a directory or do without.

// LocalDir is a backend whose sets are directories on this machine, under
// one store directory.
type LocalDir interface {
	// Dir is the store directory, as a local path.
	Dir() string
}

// Owner is a backend whose sets have owners that can be handed over.
type Owner interface {
	// HandOver gives the set g/name and its regular files to the owner
	// of the group's directory when that owner is not root; it reports
	// whether anything was handed over.
	HandOver(ctx context.Context, g Group, name string) (bool, error)
}

var (
	_ LocalDir = (*FS)(nil)
	_ Owner    = (*FS)(nil)
)
