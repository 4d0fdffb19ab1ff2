// Package pool is the one bounded worker pool of mdtools: every stage that
// works on many MDs or files at once (md-order's records, md-install's
// activations, md-staple's scans and requests, md-status's reports) runs
// its work through it, so the rules for how much runs at once and in which
// order results come out are written once.
package pool

import "sync"

// Each calls f(i) for every i in [0, n) on at most workers goroutines and
// returns when all calls have returned. With workers <= 1 (or n <= 1) it
// calls f in order on the caller's goroutine.
func Each(n, workers int, f func(i int)) {
	if n <= 1 || workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	_ = Ordered(n, workers, 0, f, nil) // a nil emit never fails
}

// Ordered calls f(i) for every i in [0, n) on at most workers goroutines
// and emit(i) in the order of i, each as soon as i and every index before
// it are done, so output keeps the input order while the work overlaps.
// emit calls never overlap. window > 0 bounds how far the work runs ahead
// of the oldest index not yet emitted, so a caller that drops each result
// once it is emitted keeps its memory flat however large n is; 0 means no
// bound. When emit returns an error no further index is started, the calls
// already running finish, and Ordered returns that error. emit may be nil.
func Ordered(n, workers, window int, f func(i int), emit func(i int) error) error {
	workers = max(1, min(workers, n))
	p := &ordered{n: n, window: window, f: f, emit: emit, done: make([]bool, n)}
	p.cond = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work()
		}()
	}
	wg.Wait()
	return p.err
}

type ordered struct {
	n, window int
	f         func(int)
	emit      func(int) error

	mu      sync.Mutex
	cond    *sync.Cond
	next    int    // the next index to start
	emitted int    // indexes below this one were emitted
	done    []bool // f(i) returned
	err     error  // emit failed: start nothing more
}

func (p *ordered) work() {
	for {
		i, ok := p.take()
		if !ok {
			return
		}
		p.f(i)
		p.finish(i)
	}
}

// take returns the next index to work on, waiting while the window is full.
func (p *ordered) take() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.err == nil && p.next < p.n && p.window > 0 && p.next >= p.emitted+p.window {
		p.cond.Wait()
	}
	if p.err != nil || p.next >= p.n {
		return 0, false
	}
	i := p.next
	p.next++
	return i, true
}

// finish marks i done and emits every index that is now next in order.
func (p *ordered) finish(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[i] = true
	for p.err == nil && p.emitted < p.n && p.done[p.emitted] {
		if p.emit != nil {
			p.err = p.emit(p.emitted)
		}
		p.emitted++
	}
	p.cond.Broadcast()
}
