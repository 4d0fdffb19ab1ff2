package memo

import (
	"sync"
	"time"
)

// Notes is where a stage's work notes, per record (or MD name), until
// when the answer it gave stays right; the stage's cli.Work.Until reads
// it back. Safe for concurrent use; the zero value is ready.
type Notes[K comparable] struct {
	mu    sync.Mutex
	until map[K]time.Time
}

// Note records that the answer for k holds until until.
func (n *Notes[K]) Note(k K, until time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.until == nil {
		n.until = map[K]time.Time{}
	}
	n.until[k] = until
}

// Until is what was noted for k and forgets it (an answer is read once);
// false when nothing was.
func (n *Notes[K]) Until(k K) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.until[k]
	delete(n.until, k)
	return t, ok
}
