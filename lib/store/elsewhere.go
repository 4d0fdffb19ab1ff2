package store

import (
	"errors"
	"fmt"
)

// ElsewhereError is returned by Lock when another node of a store shared
// by a fleet (etcd) holds the lock: the work is in progress there, which
// in a healthy fleet is no failure and no reason to retry. It matches
// ErrLocked (errors.Is), so code that only knows "locked" still skips the
// MD; the stages report such an MD as in progress elsewhere instead of
// exiting 3. A lock held by another run on this node, or by a holder
// that does not say which node it is, is a plain ErrLocked.
type ElsewhereError struct {
	Name string // the lock: an MD name, "" for the store-wide lock
	Node string // the node holding it
	Lock string // where the lock is, for messages
}

func (e *ElsewhereError) Error() string {
	what := "the store"
	if e.Name != "" {
		what = e.Name
	}
	return fmt.Sprintf("%s: in progress on node %s (lock %s)", what, e.Node, e.Lock)
}

// Is makes an ElsewhereError match ErrLocked.
func (e *ElsewhereError) Is(target error) bool { return target == ErrLocked }

// Elsewhere returns the node that holds the lock err reports, when it is
// another node of a shared store ("" otherwise).
func Elsewhere(err error) string {
	var e *ElsewhereError
	if errors.As(err, &e) {
		return e.Node
	}
	return ""
}
