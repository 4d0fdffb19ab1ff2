package staple

import (
	"context"

	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/store"
)

// HasRevoked reports whether any installed certificate of the MD name is
// known to be revoked by its stored OCSP response or CRL verdict
// (ocspfile.HasRevoked, which md-order calls itself).
func HasRevoked(ctx context.Context, st *store.Store, name string) (bool, error) {
	return ocspfile.HasRevoked(ctx, st, name, nil)
}
