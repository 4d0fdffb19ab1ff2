package store

import "context"

// Watcher is a backend that reports changes to a group as they happen, so
// that a long-running command (md-challenge serve, md-install --watch)
// reacts at once instead of polling. The etcd backend is one; the
// filesystem backend is not, and its users read the store when they need
// to, as before.
type Watcher interface {
	// Watch reports the changes to the sets of group g until ctx is done,
	// then closes the channel. Its first event is a Resync, sent once the
	// watch is in place: a consumer (re)reads the whole group then, so
	// that no change between its read and the watch is lost. A Resync
	// comes again whenever changes may have been missed (the store ended
	// the watch and it was made again).
	Watch(ctx context.Context, g Group) (<-chan Event, error)
}

// Event is one change to a group.
type Event struct {
	// Resync means: changes may have been missed, read the group again.
	// Name and File are empty then.
	Resync bool
	// Name is the set that changed, File the file in it.
	Name, File string
	// Deleted is true when the file was removed (Remove, Purge, Move).
	Deleted bool
}

// Watch reports changes to group g if the store's backend can watch; ok
// is false (and nothing started) when it cannot.
func (s *Store) Watch(ctx context.Context, g Group) (events <-chan Event, ok bool, err error) {
	w, ok := s.b.(Watcher)
	if !ok {
		if ro, isRO := s.b.(readOnly); isRO {
			w, ok = ro.b.(Watcher)
		}
	}
	if !ok {
		return nil, false, nil
	}
	if err := CheckGroup(g); err != nil {
		return nil, true, err
	}
	events, err = w.Watch(ctx, g)
	return events, true, err
}
