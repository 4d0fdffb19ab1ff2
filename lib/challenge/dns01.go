package challenge

import (
	"context"
	"fmt"

	"github.com/mdtools/mdtools/lib/md"
)

func (m *Manager) setupDNS01(ctx context.Context, rec *md.Record, t Task) error {
	return fmt.Errorf("%w: dns-01 not implemented yet", ErrNotApplicable)
}

func (m *Manager) teardownDNS01(ctx context.Context, rec *md.Record, t Task) error {
	return fmt.Errorf("%w: dns-01 not implemented yet", ErrNotApplicable)
}
