package tuples

import "sync/atomic"

// Reads racing Close. Badger must not be read once it is closed, nor while
// it closes: a read then fails with a misleading error, finds nothing,
// panics (a nil memtable, an unmapped table) or hangs for ever (Badger's
// value-log Close keeps the files' locks). And an iterator or transaction
// of a snapshot must end before Badger closes. So every read through
// Badger passes a gate that counts the reads in flight:
//
//   - the store's gate (Store.rg) for the store's own reads (ForEach,
//     ReadRelationships, Changes, SchemaSource, a schema's first load),
//     for opening a snapshot and for closing one;
//   - each snapshot's own gate for its reads (Get, Subjects, Resources),
//     so that the many reads of concurrent requests do not all update one
//     counter.
//
// Close shuts the store's gate and waits until no read is in it (so no
// snapshot is being opened or closed), then shuts the gate of every open
// snapshot, waits for its reads to end and ends its iterators and
// transaction, and only then closes Badger. A read at a shut gate fails
// with ErrClosed; a scan in flight stops at its next key with ErrClosed.
// Writes do not pass the gate: they hold wmu, which Close takes before it
// closes Badger.
//
// Close waits for the reads in flight, callbacks included, so a callback of
// a read must not call Close.

// readGate counts the reads in flight through something Close must wait
// for.
type readGate struct {
	n    atomic.Int64
	shut atomic.Bool
}

// enter begins a read: false (and no read begun) once the gate is shut.
// Every successful enter is followed by one leave.
func (s *Store) enter(g *readGate) bool {
	g.n.Add(1)
	if g.shut.Load() {
		s.leave(g)
		return false
	}
	return true
}

// leave ends a read begun by enter, waking Close when it was the last.
func (s *Store) leave(g *readGate) {
	if g.n.Add(-1) == 0 && g.shut.Load() {
		s.gateMu.Lock()
		s.gateIdle.Broadcast()
		s.gateMu.Unlock()
	}
}

// shutAndWait shuts g and waits until no read is in it.
func (s *Store) shutAndWait(g *readGate) {
	g.shut.Store(true)
	s.gateMu.Lock()
	for g.n.Load() > 0 {
		s.gateIdle.Wait()
	}
	s.gateMu.Unlock()
}

// stopReads ends reading before Badger closes: new reads fail with
// ErrClosed, those in flight are waited for, and the snapshots still open
// are released (their later reads fail with ErrClosed, their Close does
// nothing).
func (s *Store) stopReads() {
	s.shutAndWait(&s.rg)
	var open []*snapshot
	s.gateMu.Lock()
	for sn := s.snaps; sn != nil; sn = sn.next {
		open = append(open, sn)
		sn.listed = false
	}
	s.snaps = nil
	s.gateMu.Unlock()
	for _, sn := range open {
		sn.rg.shut.Store(true)
	}
	for _, sn := range open {
		s.shutAndWait(&sn.rg)
		sn.release()
	}
}

// register adds sn to the store's list of open snapshots, for stopReads;
// within the store's gate.
func (s *Store) register(sn *snapshot) {
	s.gateMu.Lock()
	sn.next, sn.listed = s.snaps, true
	if s.snaps != nil {
		s.snaps.prev = sn
	}
	s.snaps = sn
	s.gateMu.Unlock()
}

// unregister takes sn off the list, reporting whether it was on it (and so
// is for the caller to release); within the store's gate.
func (s *Store) unregister(sn *snapshot) bool {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	if !sn.listed {
		return false
	}
	if sn.prev != nil {
		sn.prev.next = sn.next
	} else {
		s.snaps = sn.next
	}
	if sn.next != nil {
		sn.next.prev = sn.prev
	}
	sn.prev, sn.next, sn.listed = nil, nil, false
	return true
}
