package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// maxArchive is mod_md's limit for archive/<md>.N.
const maxArchive = 1000

// Promote makes the complete set src/<name> the live set domains/<name>.
// An existing live set is swapped out in one atomic exchange (readers see
// the old or the new set, never a mix and never none) and then moved to
// archive/<name>.N, the smallest free N as mod_md picks it. The returned
// string is that archive name, or "" when there was no live set.
//
// Crash safety: before the exchange the live set gets a ".superseded"
// marker. If a run dies after the exchange, src/<name> holds the marked old
// set, and the next Promote or RecoverPromote archives it instead of
// swapping it back. Temp files dead writers left in src/<name> are removed
// before it goes live, and those in the old live set when it is archived.
// Callers hold the MD's lock (and md-install the store lock, which keeps
// md-parse out of domains/<name> meanwhile).
func (s *Store) Promote(ctx context.Context, src Group, name string) (string, error) {
	if err := checkNames(src, name, ""); err != nil {
		return "", err
	}
	if src == GroupDomains {
		return "", fmt.Errorf("%w: promoting from domains to itself", ErrBadName)
	}
	if _, err := s.RecoverPromote(ctx, src, name); err != nil {
		return "", err
	}
	if !s.setExists(ctx, src, name) {
		return "", fmt.Errorf("promoting %s/%s: no such set", src, name)
	}
	// temp files of writers killed in src would become live litter
	if _, err := s.SweepTemp(ctx, src, name); err != nil {
		return "", err
	}
	if !s.setExists(ctx, GroupDomains, name) {
		return "", s.b.Move(ctx, src, name, GroupDomains, name)
	}
	if err := s.b.Write(ctx, GroupDomains, name, fileSuperseded, []byte("replaced by a promoted set\n")); err != nil {
		return "", err
	}
	if err := s.b.Exchange(ctx, src, name, GroupDomains, name); err != nil {
		return "", err
	}
	return s.archiveSuperseded(ctx, src, name)
}

// RecoverPromote finishes a Promote that died after its exchange: if
// src/<name> is a superseded live set, it is archived. It reports the
// archive name if it did anything.
func (s *Store) RecoverPromote(ctx context.Context, src Group, name string) (string, error) {
	if s.Exists(ctx, src, name, fileSuperseded) {
		return s.archiveSuperseded(ctx, src, name)
	}
	return "", nil
}

func (s *Store) archiveSuperseded(ctx context.Context, src Group, name string) (string, error) {
	for n := 1; n < maxArchive; n++ {
		arch := name + "." + strconv.Itoa(n)
		if s.setExists(ctx, GroupArchive, arch) {
			continue
		}
		if err := s.b.Move(ctx, src, name, GroupArchive, arch); err != nil {
			return "", err
		}
		_ = s.b.Remove(ctx, GroupArchive, arch, fileSuperseded)
		// nobody writes an archived set: whatever temp file a killed
		// writer left in the old live set goes now
		if _, err := s.SweepTemp(ctx, GroupArchive, arch); err != nil {
			return arch, err
		}
		return arch, nil
	}
	return "", errors.New("archiving " + name + ": archive/" + name + ".1 to .999 all exist; prune old archives")
}

func (s *Store) setExists(ctx context.Context, g Group, name string) bool {
	_, err := s.b.ModTime(ctx, g, name, "") // file "" stats the set itself
	return err == nil
}
