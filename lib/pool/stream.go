package pool

import "sync"

// Stream is Ordered for a sequence of unknown length: it takes items from
// next until next returns false, calls work on each on at most workers
// goroutines, and emit on each in the order next returned them, as soon
// as it and every item before it are done. At most window items are
// between next and emit at once, so memory stays flat however long the
// sequence. When emit returns an error, next is not called again, the work
// already started finishes, and Stream returns that error. emit calls
// never overlap; next is called on the caller's goroutine. idle, if not
// nil, is called (like emit, never at once with it) whenever emitting
// waits for work or input: the moment to flush what emit buffered.
func Stream[T any](workers, window int, next func() (T, bool), work func(T), emit func(T) error, idle func()) error {
	workers, window = max(1, workers), max(1, window)
	type slot struct {
		v    T
		done chan struct{}
	}
	jobs := make(chan *slot)
	order := make(chan *slot, window)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				work(s.v)
				close(s.done)
			}
		}()
	}
	var (
		mu      sync.Mutex
		emitErr error
		emitted = make(chan struct{})
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return emitErr != nil
	}
	wait := func(s *slot) {
		select {
		case <-s.done:
		default:
			if idle != nil {
				idle()
			}
			<-s.done
		}
	}
	go func() {
		defer close(emitted)
		for {
			var s *slot
			var ok bool
			select {
			case s, ok = <-order:
			default:
				if idle != nil {
					idle()
				}
				s, ok = <-order
			}
			if !ok {
				break
			}
			wait(s)
			if !failed() {
				if err := emit(s.v); err != nil {
					mu.Lock()
					emitErr = err
					mu.Unlock()
				}
			}
		}
	}()
	for !failed() {
		v, ok := next()
		if !ok {
			break
		}
		s := &slot{v: v, done: make(chan struct{})}
		order <- s // waits while window items are in flight
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	close(order)
	<-emitted
	return emitErr
}
