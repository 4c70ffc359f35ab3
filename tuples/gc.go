package tuples

import "time"

// Garbage collection. Badger in managed mode keeps every version of a key
// until told otherwise. Each commit records its time (key 't', with a TTL a
// little longer than the window); the collector finds the newest revision
// committed before now-window, D, and calls SetDiscardTs(D): compactions may
// then drop versions that no snapshot at D or later can see. Revisions below D
// answer ErrRevisionTooOld. Value-log GC runs in the background too.

// timeTTL is how long commit-time and change-feed records outlive the window.
const timeTTLMargin = time.Hour

// advanceDiscard moves the discard revision up to the newest revision
// committed at or before now-window, trims the commit-time list, and reports
// whether such a revision was found. Callers hold s.mu (or own s).
func (s *Store) advanceDiscard(now time.Time) bool {
	cutoff := now.Add(-s.opts.GCWindow)
	i := -1
	for j, t := range s.times {
		if t.at.After(cutoff) {
			break
		}
		i = j
	}
	if i < 0 {
		return false
	}
	if d := s.times[i].rev; d > s.discard {
		s.discard = d
	}
	s.times = append(s.times[:0:0], s.times[i:]...)
	return true
}

// collect runs one round of garbage collection.
func (s *Store) collect(now time.Time) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.advanceDiscard(now)
	d := s.discard
	s.mu.Unlock()
	db, done, err := s.acquire()
	if err != nil {
		return
	}
	defer done()
	db.SetDiscardTs(uint64(d))
	if s.opts.InMemory || s.degraded.Load() || !s.roomForGC() {
		return
	}
	// Each successful round rewrites one value-log file; stop at the first
	// round with nothing worth rewriting (ErrNoRewrite) or any other error.
	for i := 0; i < 10; i++ {
		if err := db.RunValueLogGC(0.5); err != nil {
			return
		}
	}
}

func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	w := time.NewTicker(min(s.opts.GCInterval, watchInterval))
	defer w.Stop()
	p := time.NewTicker(allocPoolInterval)
	defer p.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.collect(now)
		case <-w.C:
			s.watchTables()
		case <-p.C:
			s.trimAllocPool()
		}
	}
}
