package tuples

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A full disk. Badger writes its write-ahead log (.mem), value log and new
// tables through memory-mapped files that it extends without allocating
// them (sparse), so a full disk shows up not as an error but as SIGBUS when
// a page of such a file is first written: the process dies, and dies again
// at the next open (which flushes the logs it replays into new tables). No
// option of Badger's allocates those files up front, and a fault in one of
// Badger's goroutines cannot be recovered. So the store keeps Badger away
// from a full disk:
//
//   - every write first checks the free space of the store's filesystem
//     (statfs) and fails with ErrNoSpace unless what Badger may soon need
//     would be left after it (roomNeeded): room to flush its memtables (as
//     much as its write-ahead logs hold), to compact level 0 into the base
//     level (a compaction writes all its output before it deletes its
//     input: up to the size of both levels, which in a store one import
//     made is the whole store), and Options.DiskReserve beyond. Reads go
//     on; writes succeed again as soon as space is freed.
//   - Open measures the space that opening needs (the write-ahead logs it
//     will flush, and a few new files); on a disk with less free, it opens
//     Badger read-only: reads are served, writes fail with ErrNoSpace, and
//     the first write after space returns reopens the store writable.
//
// What this cannot prevent: another process filling the disk while Badger
// is flushing or compacting; leave room on a store's disk, or give it a
// filesystem of its own.

// defaultDiskReserve is Options.DiskReserve by default.
const defaultDiskReserve = 64 << 20

// openMargin is the space an open needs beyond the logs it flushes: a new
// write-ahead log, value log, the pid file and the MANIFEST's growth.
const openMargin = 4 << 20

// degradedNote says why a store is read-only on a full disk.
const degradedNote = "the store was opened read-only because its disk is full"

// writable reports whether a write of about size bytes may go ahead: not on
// a read-only store, and not if it would leave less free disk space than
// Options.DiskReserve. A store opened read-only on a full disk is reopened
// writable here once there is room. Callers hold wmu.
func (s *Store) writable(size int64) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if s.opts.InMemory || s.opts.DiskReserve < 0 {
		return nil
	}
	free, ok := freeSpace(s.dir)
	if !ok {
		return nil
	}
	// What Badger may need changes slowly: measured at most every 200 ms,
	// with twice the bytes written since (logged, then flushed) added.
	if now := time.Now(); now.Sub(s.room.at) > 200*time.Millisecond || s.degraded.Load() {
		s.room.need, s.room.at, s.room.since = s.roomNeeded(), now, 0
	}
	need := s.room.need + 2*s.room.since + size
	if s.degraded.Load() {
		need = max(need, openNeed(s.dir))
	}
	if free < need {
		note := "writes resume once space is freed; reads go on"
		if s.degraded.Load() {
			note = degradedNote + "; " + note
		}
		return fmt.Errorf("%w on %s: %s free, a write needs %s left over (%s)", ErrNoSpace, s.dir, bytesText(free), bytesText(need), note)
	}
	if s.degraded.Load() {
		if err := s.reopenWritable(); err != nil {
			return fmt.Errorf("%w: %s, and reopening it writable failed: %v", ErrNoSpace, degradedNote, err)
		}
	}
	s.room.since += size
	return nil
}

// roomMeasure is roomNeeded as last measured (guarded by wmu).
type roomMeasure struct {
	need, since int64 // roomNeeded then; bytes written since
	at          time.Time
}

// openNeed is the free space a writable open (or a close) of dir needs:
// room to flush the write-ahead logs, and a few new files.
func openNeed(dir string) int64 {
	n := walBytes(dir)
	return n + n/8 + openMargin
}

// walBytes is the disk space of dir's write-ahead logs: about what Badger
// has yet to flush into tables.
func walBytes(dir string) int64 {
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	var n int64
	for _, m := range mems {
		n += allocatedBytes(m)
	}
	return n
}

// roomToClose reports whether Badger may close (flushing its memtable into
// a table) without running out of disk: if not, Close leaves Badger open
// (the process is expected to exit; the write-ahead log holds everything).
func (s *Store) roomToClose() error {
	if s.opts.InMemory || s.opts.ReadOnly || s.degraded.Load() || s.opts.DiskReserve < 0 {
		return nil
	}
	free, ok := freeSpace(s.dir)
	if need := openNeed(s.dir); ok && free < need {
		return fmt.Errorf("%w on %s: %s free, flushing the memtable needs %s: the store was left unflushed (everything committed is in its write-ahead log) and stays locked until the process exits", ErrNoSpace, s.dir, bytesText(free), bytesText(need))
	}
	return nil
}

// roomForGC reports whether value-log garbage collection (which rewrites
// values) may run.
func (s *Store) roomForGC() bool {
	if s.opts.DiskReserve < 0 {
		return true
	}
	free, ok := freeSpace(s.dir)
	return !ok || free >= s.roomNeeded()
}

// roomNeeded is the free space Badger may need soon, with
// Options.DiskReserve beyond: flushing what its write-ahead logs hold (a
// table about as large), compacting level 0 (the new table with it) into
// the base level, and a compaction of one table of a lower level into the
// next (with the ten or so tables it overlaps there). A compaction writes
// all its output before it deletes its input.
func (s *Store) roomNeeded() int64 {
	wal := walBytes(s.dir) * 9 / 8
	db, done, err := s.acquire()
	if err != nil {
		return s.opts.DiskReserve
	}
	levels := db.Levels()
	done()
	var l0, base, other int64
	for i, l := range levels {
		switch {
		case l.Level == 0:
			l0 = l.Size
		case l.IsBaseLevel:
			base = l.Size
		}
		if l.Level > 0 && l.Size > 0 && i+1 < len(levels) {
			next := levels[i+1]
			other = max(other, min(l.Size, l.TargetFileSize)+min(next.Size, 10*next.TargetFileSize))
		}
	}
	return s.opts.DiskReserve + 2*wal + l0 + base + other
}

// reopenWritable swaps the read-only Badger of a store opened on a full
// disk for a writable one (caller holds wmu). The read-only one must close
// first (it shares the directory's lock), so new reads wait meanwhile and
// those in flight are waited for, a few seconds at most; if they do not end
// by then the store stays read-only until the next write tries again.
func (s *Store) reopenWritable() error {
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	for s.readers.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("reads in progress")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	db, err := badger.OpenManaged(s.bo)
	if err != nil {
		// Back to reading, if only that.
		ro, rerr := badger.OpenManaged(s.bo.WithReadOnly(true))
		if rerr != nil {
			return fmt.Errorf("%v; and reopening it read-only failed too: %v", err, rerr)
		}
		s.db = ro
		return err
	}
	s.db = db
	s.degraded.Store(false)
	s.mu.RLock()
	discard := s.discard
	s.mu.RUnlock()
	db.SetDiscardTs(uint64(discard))
	writeMarker(s.dir)
	return nil
}

// acquire returns the Badger database for a read, and the function that
// ends the read; an error once the store stopped on damage (watch.go).
func (s *Store) acquire() (*badger.DB, func(), error) {
	s.swapMu.RLock()
	defer s.swapMu.RUnlock()
	if err := s.damaged(); err != nil {
		return nil, nil, err
	}
	s.readers.Add(1)
	return s.db, s.release, nil
}

func (s *Store) release() { s.readers.Add(-1) }

// bytesText prints a byte count for people.
func bytesText(n int64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// diskFullError says that dir cannot be opened at all on a full disk.
func diskFullError(dir string, free, need int64, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "no manifest found") {
		msg = "a new store cannot be created"
	}
	return fmt.Errorf("%w on %s: %s free, opening needs %s: %s", ErrNoSpace, dir, bytesText(free), bytesText(need), msg)
}

// writeSize estimates the bytes a batch adds to the logs: each relationship
// is written three times (forward and reverse keys, change record), with
// Badger's headers.
func writeSize(updates []Update) int64 {
	n := int64(4096)
	for i := range updates {
		r := &updates[i].Relationship
		n += 3 * int64(len(r.ResourceType)+len(r.ResourceID)+len(r.Relation)+len(r.SubjectType)+len(r.SubjectID)+len(r.SubjectRelation)+64)
		if r.Caveat != nil {
			n += 3 * 256
		}
	}
	return n
}

// Writable reports whether a write could go ahead now: nil, or an error
// wrapping ErrReadOnly (Options.ReadOnly) or ErrNoSpace (the disk is full;
// it says whether the store was opened read-only because of it). A server
// calls it at start to say so.
func (s *Store) Writable() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.headRev(); err != nil {
		return err
	}
	return s.writable(0)
}
