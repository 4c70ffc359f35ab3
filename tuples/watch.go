package tuples

import (
	"time"

	"github.com/dgraph-io/badger/v4/table"
)

// Damage while open. Tables are verified before Badger opens them, but a
// table file may change under a running store (a person, a failing disk
// through the filesystem). Badger would read such a table as data, or end
// a read early at a block that fails its checksum, and its compactions would
// carry what they read into new tables with good checksums. So a writable
// store looks at its tables' files every watchInterval (at most its
// GCInterval): a table whose file changed since it was first seen (size,
// times, inode) is verified whole again, and if it is damaged the store
// stops: Badger is closed once the reads in flight end (so no compaction
// carries the damage on), and every read and write fails with the
// *CorruptError naming the table. The next Open refuses the store too.

// watchInterval is how often a store looks at its tables' files.
const watchInterval = 10 * time.Second

// damaged is the damage that stopped the store, or nil.
func (s *Store) damaged() error {
	if p := s.damage.Load(); p != nil {
		return *p
	}
	return nil
}

// watchTables verifies again the live tables whose files changed since
// they were first seen (gcLoop's goroutine).
func (s *Store) watchTables() {
	if s.opts.InMemory || s.damaged() != nil {
		return
	}
	db, done, err := s.acquire()
	if err != nil {
		return
	}
	tables := db.Tables()
	done()
	if s.watched == nil {
		s.watched = map[string]fileStamp{}
	}
	live := make(map[string]bool, len(tables))
	for _, ti := range tables {
		name := table.IDToFilename(ti.ID)
		live[name] = true
		path := table.NewFilename(ti.ID, s.dir)
		st, ok := statFile(path)
		if !ok {
			continue // deleted meanwhile by a compaction, or no stamps here
		}
		old, seen := s.watched[name]
		if !seen {
			s.watched[name] = st // written by Badger since the open
			continue
		}
		if old == st {
			continue
		}
		if err := verifyTable(path, 0); err != nil {
			s.stopOnDamage(err)
			return
		}
		s.watched[name] = st
	}
	for name := range s.watched {
		if !live[name] {
			delete(s.watched, name)
		}
	}
}

// stopOnDamage stops the store on damage found while open (see above).
func (s *Store) stopOnDamage(err error) {
	if !s.damage.CompareAndSwap(nil, &err) {
		return
	}
	// Close Badger once no write or read uses it; give up if the store is
	// closing meanwhile (Close closes it), or after a minute of reads.
	for !s.wmu.TryLock() {
		select {
		case <-s.stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	defer s.wmu.Unlock()
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for s.readers.Load() > 0 {
		if time.Now().After(deadline) {
			return // a read that never ends: leave Badger to Close
		}
		select {
		case <-s.stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
	s.db.Close()
	s.dbClosed = true
}
