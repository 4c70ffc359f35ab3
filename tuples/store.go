package tuples

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Errors of the store. They are wrapped with context; test with errors.Is.
var (
	// ErrRevisionTooOld: the revision is older than the garbage-collection
	// window, so its versions may be gone.
	ErrRevisionTooOld = errors.New("revision is older than the garbage-collection window")
	// ErrRevisionInFuture: the revision has not been committed yet.
	ErrRevisionInFuture = errors.New("revision is beyond the head of the store")
	// ErrAlreadyExists: a CREATE found the relationship present.
	ErrAlreadyExists = errors.New("relationship already exists")
	// ErrPreconditionFailed: a precondition of a write did not hold.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrBatchTooLarge: a write has more updates than Options.MaxBatch.
	ErrBatchTooLarge = errors.New("too many updates in one write")
	// ErrNoSchema: relationships cannot be written before a schema.
	ErrNoSchema = errors.New("no schema has been written")
	// ErrDuplicateUpdate: one relationship appears twice in a batch.
	ErrDuplicateUpdate = errors.New("a relationship appears more than once in the batch")
	// ErrOrphans: a schema write would leave stored relationships without a
	// definition, relation or allowed subject type.
	ErrOrphans = errors.New("schema change would orphan stored relationships")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store is closed")
	// ErrCorrupt: store data is damaged (a checksum failed, a file is
	// missing or cut short, the MANIFEST and the tables disagree). A
	// *CorruptError names the file where it is known.
	ErrCorrupt = errors.New("store data is damaged")
	// ErrReadOnly: a write to a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("store is open read-only")
	// ErrNoSpace: a write refused because the disk is (nearly) full; reads
	// go on, and writes succeed again once space is freed.
	ErrNoSpace = errors.New("not enough free disk space")
)

// Defaults of Options.
const (
	DefaultGCWindow   = 24 * time.Hour
	DefaultMaxBatch   = 1000
	DefaultGCInterval = time.Minute

	// defaultDiskMemTable is the memtable size of an on-disk store when
	// Options.MemTableSize is 0.
	defaultDiskMemTable = 128 << 20

	// valueLogFileSize is the size at which Badger starts a new value-log
	// file (see badgerOptions). It must exceed the largest value: a schema
	// (at most 4 MiB) or a part of a change record (256 KiB).
	valueLogFileSize = 64 << 20
)

// Options configure a Store. The zero value is a durable on-disk store with
// the defaults below.
type Options struct {
	// InMemory keeps everything in memory (dir is ignored); for tests and
	// short-lived tools.
	InMemory bool
	// GCWindow is how long old revisions stay readable (default 24h).
	GCWindow time.Duration
	// GCInterval is how often the background collector runs (default 1m).
	GCInterval time.Duration
	// MaxBatch is the most updates one Write accepts (default 1,000).
	// Import is not limited by it.
	MaxBatch int
	// SyncWrites makes every commit wait for fsync. Without it a crash of the
	// process loses nothing committed, and a crash of the machine may lose
	// the last commits but never part of one.
	SyncWrites bool
	// IndexCacheSize bounds the memory kept for table indexes and bloom
	// filters, in bytes (default 256 MiB; 0 keeps the default, <0 unbounded).
	IndexCacheSize int64
	// MemTableSize is the size of Badger's memtable in bytes (0: 128 MiB
	// on disk, Badger's default of 64 MiB in memory; at least 8 MiB).
	// Opening a store allocates and clears one, so short-lived in-memory
	// stores open much faster with a small one.
	MemTableSize int64
	// ReadOnly opens an existing on-disk store for reading only (for
	// backups and inspection while nothing writes): no file of the store
	// changes, there is no garbage collection, and writes fail with
	// ErrReadOnly. Other read-only opens may share the directory, no
	// writable one. A store a crash left is read through a temporary view
	// (a reach-view-* directory of links, removed at Close).
	ReadOnly bool
	// DiskReserve is free disk space a write must leave, in bytes, beyond
	// what Badger may soon need to flush its memtables and compact level 0
	// (measured at each write; see diskspace.go). A write that would leave
	// less fails with ErrNoSpace (reads go on). Default 64 MiB; <0 turns
	// the check off.
	DiskReserve int64
}

func (o Options) withDefaults() Options {
	if o.GCWindow <= 0 {
		o.GCWindow = DefaultGCWindow
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = 256 << 20
	}
	if o.DiskReserve == 0 {
		o.DiskReserve = defaultDiskReserve
	}
	return o
}

// Store is the relationship store: Badger in managed mode, where the commit
// timestamp of every batch is its Revision. Writes are serialised; reads are
// snapshots and run concurrently with writes and with each other.
type Store struct {
	db      *badger.DB // read through acquire (see diskspace.go)
	closeRO func()     // ends what a read-only open holds beside db (openReadOnly)
	opts    Options
	names   *nameTable
	dir     string
	bo      badger.Options

	// A store opened on a full disk is read-only underneath (degraded)
	// until a write finds room and swaps db for a writable one, under
	// swapMu, once no read holds db (readers counts them).
	degraded atomic.Bool // changed under wmu
	swapMu   sync.RWMutex
	readers  atomic.Int64
	room     roomMeasure // guarded by wmu

	// Damage found while open stops the store (watch.go).
	damage   atomic.Pointer[error]
	dbClosed bool                 // db closed on damage (under wmu and swapMu)
	watched  map[string]fileStamp // tables seen, by name (gcLoop's)

	wmu sync.Mutex // serialises writers; guards nothing readers need

	// Reads in flight, which Close waits for (readgate.go); rg alone on
	// its cache line, as every read updates it.
	_        [64]byte
	rg       readGate
	_        [56]byte
	gateMu   sync.Mutex
	gateIdle sync.Cond // L is gateMu; a gate's last read left
	snaps    *snapshot // the open snapshots, linked (under gateMu)

	mu      sync.RWMutex
	head    Revision
	times   []revTime // commit times of recent revisions, ascending
	discard Revision  // revisions below this are too old
	notify  chan struct{}
	closed  bool

	schemas schemaCache

	stop   chan struct{}
	gcDone chan struct{}
}

type revTime struct {
	rev Revision
	at  time.Time
}

// Open opens (creating if needed) the store in dir, or an in-memory store.
//
// An existing directory is checked first (see integrity.go): Open refuses,
// with a *CorruptError naming the file and changing nothing, a store whose
// MANIFEST is missing or damaged, or one of whose tables is missing or fails
// its checksums. A store opened on a full disk serves reads, and writes fail
// with ErrNoSpace until space is freed (see diskspace.go).
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.InMemory {
		opts.ReadOnly = false
	}
	bo := badgerOptions(dir, opts)
	var check *dirCheck
	if !opts.InMemory {
		var err error
		if check, err = prepareDir(dir, opts, bo); err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	// On a disk too full for Badger to open writable (it would fault), open
	// read-only until a write finds room (diskspace.go).
	openBo, degraded := bo, false
	var free, need int64
	if !opts.InMemory && !opts.ReadOnly && opts.DiskReserve >= 0 {
		need = openNeed(dir)
		var ok bool
		if free, ok = freeSpace(dir); ok && free < need {
			openBo, degraded = bo.WithReadOnly(true), true
		}
	}
	var db *badger.DB
	var release func()
	var err error
	switch {
	case opts.ReadOnly:
		db, release, err = openReadOnly(dir, check, bo)
	case degraded:
		// After a crash Badger must cut the write-ahead logs where their
		// entries end, as a writable open does; that takes no space.
		for _, m := range check.files.mems {
			if err = trimToData(filepath.Join(dir, m)); err != nil {
				break
			}
		}
		if err == nil {
			db, err = openCutting(openBo, dir, len(check.files.mems))
		}
	default:
		db, err = badger.OpenManaged(openBo)
	}
	if err != nil {
		if degraded {
			err = diskFullError(dir, free, need, err)
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, closeRO: release, opts: opts, dir: dir, bo: bo, names: newNameTable(), notify: make(chan struct{}), stop: make(chan struct{}), gcDone: make(chan struct{})}
	s.gateIdle.L = &s.gateMu
	s.degraded.Store(degraded)
	err = s.load()
	if err == nil {
		err = s.loadSchemaVersions()
	}
	if err != nil {
		db.Close()
		if release != nil {
			release()
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if check != nil && !opts.ReadOnly {
		check.verified.save(dir)
		writeMarker(dir)
		if check.verified != nil {
			s.watched = check.verified.now
		}
	}
	if opts.ReadOnly {
		close(s.gcDone)
	} else {
		go s.gcLoop()
	}
	return s, nil
}

// prepareDir checks an existing store directory before Badger opens it,
// holding the directory's lock as Badger will (so no other process is
// changing it meanwhile).
func prepareDir(dir string, opts Options, bo badger.Options) (*dirCheck, error) {
	unlock, err := lockDir(dir, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if opts.ReadOnly {
		if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
			return nil, fmt.Errorf("no store to open read-only: %w", err)
		}
	} else {
		removeViews(dir)
	}
	c, err := checkDir(dir, false)
	if err != nil {
		return nil, err
	}
	if err := checkOrphans(dir, c, bo); err != nil {
		return nil, err
	}
	return c, nil
}

// openReadOnly opens the Badger of a read-only store. Badger, read-only,
// refuses a store a crash left (its write-ahead logs need cutting) and
// deletes the tables its MANIFEST does not list; either way the store is
// read through a view of it instead (openView), and its directory stays
// locked, shared, until the store closes.
func openReadOnly(dir string, c *dirCheck, bo badger.Options) (db *badger.DB, release func(), err error) {
	needView := len(c.orphans)+len(c.garbage) > 0
	if !needView {
		db, err = badger.OpenManaged(bo)
		if !truncateNeeded(err) {
			return db, nil, err
		}
	}
	unlock, err := lockDir(dir, true)
	if err != nil {
		return nil, nil, err
	}
	db, cleanup, err := openView(dir, c.files, c.manifest, bo)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return db, func() { cleanup(); unlock() }, nil
}

// badgerOptions are the Badger options of a store.
func badgerOptions(dir string, opts Options) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithNumVersionsToKeep(math.MaxInt32).
		WithDetectConflicts(false).
		WithSyncWrites(opts.SyncWrites).
		WithCompression(options.None).
		WithValueThreshold(1 << 10).
		WithMetricsEnabled(false).
		// No block cache: tables are uncompressed and memory-mapped, so a
		// block is read in place, and Badger's cache only adds overhead
		// (its doc says so; and it charges each mmapped block the capacity
		// of the rest of the file, so it churns: half the allocations of a
		// cold check were the cache's).
		WithBlockCacheSize(0).
		// Tables are verified whole before open, and again if their file
		// changes while open (integrity.go, watch.go), not block by block
		// as read: Badger ends a read early, with no error, at a block
		// that fails (so that gains nothing), and it cost 17-20% of the CPU
		// of a Get or a prefix scan read from a table. Values read from the
		// value log are verified (they are few, and Badger's failure there
		// is caught: itemValue).
		WithChecksumVerificationMode(options.NoVerification).
		WithVerifyValueChecksum(true).
		// Value-log files of 64 MiB, not Badger's 1 GiB. Opening a store,
		// Badger reads the whole of the last value-log file through its
		// memory map (to find where its entries end), and those pages stay
		// resident: after a 10M import, whose change records (300 MiB)
		// filled one file, every later open read 300 MiB and held it in the
		// process's RSS. Smaller files also let value-log GC rewrite less
		// at a time.
		WithValueLogFileSize(valueLogFileSize).
		WithReadOnly(opts.ReadOnly)
	if opts.IndexCacheSize > 0 {
		bo = bo.WithIndexCacheSize(opts.IndexCacheSize)
	}
	switch {
	case opts.MemTableSize > 0:
		// Three, as on disk by default, not Badger's five: memtables
		// waiting for their flush are memory the process holds.
		bo = bo.WithMemTableSize(max(opts.MemTableSize, 8<<20)).WithNumMemtables(3)
	case !opts.InMemory:
		// Larger memtables make fewer, larger L0 tables, and Badger then
		// compacts L0 straight into the last level instead of through two
		// more: a 10M-relationship import took 60 s of CPU instead of 92 s
		// (the same wall time on a loaded machine) and ended with L0 + L6
		// (5 tables per lookup at most) instead of L0, L4, L5, L6. Three
		// memtables of 128 MiB hold about what six of 64 MiB did.
		bo = bo.WithMemTableSize(defaultDiskMemTable).WithNumMemtables(3)
	}
	if opts.InMemory {
		// An in-memory Badger keeps every value in its LSM tree and refuses a
		// value larger than the value threshold, so raise it to Badger's
		// maximum (1 MiB): schemas and changelog entries exceed 1 KiB.
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("").WithValueThreshold(1 << 20)
	}
	return bo
}

// load reads the head revision, the names and the recent commit times.
func (s *Store) load() (err error) {
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	item, err := txn.Get([]byte{spaceHead})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return readErr(err)
	default:
		v, err := itemValueCopy(item)
		if err != nil {
			return readErr(err)
		}
		if len(v) != 8 {
			return corruptf("", "head revision of %d bytes", len(v))
		}
		s.head = Revision(binary.BigEndian.Uint64(v))
	}
	n := s.names.load()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceName}, PrefetchValues: false})
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := itemValueCopy(item)
		if err != nil {
			it.Close()
			return readErr(err)
		}
		id, k := binary.Uvarint(v)
		if k <= 0 {
			it.Close()
			return corruptf("", "name entry %q", item.Key())
		}
		n.restore(string(item.Key()[1:]), id)
	}
	it.Close()
	it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceTime}, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		rev := Revision(binary.BigEndian.Uint64(item.Key()[1:]))
		v, err := itemValueCopy(item)
		if err != nil {
			return readErr(err)
		}
		if len(v) != 8 {
			return corruptf("", "revision time entry of %d bytes", len(v))
		}
		if rev <= s.head {
			s.times = append(s.times, revTime{rev, time.Unix(0, int64(binary.BigEndian.Uint64(v)))})
		}
	}
	if !s.advanceDiscard(time.Now()) {
		// No known revision is older than the window. Commit times are kept
		// (with a TTL) a little longer than the window, so a revision whose
		// time is gone is too old; the one just before the oldest known is
		// still readable (its state lasted until inside the window).
		switch {
		case len(s.times) > 0 && s.times[0].rev > 0:
			s.discard = s.times[0].rev - 1
		case len(s.times) == 0:
			s.discard = s.head
		}
	}
	s.db.SetDiscardTs(uint64(s.discard))
	return nil
}

// Close stops the background collector and closes the database. Reads in
// flight are waited for (a scan stops at its next key) and fail with
// ErrClosed, as do all later reads, through snapshots opened before too;
// the snapshots still open are released (closing them later does nothing).
// A callback of a read must not call Close (it would wait for itself).
func (s *Store) Close() error {
	s.stopReads()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.notify)
	s.mu.Unlock()
	close(s.stop)
	<-s.gcDone
	if err := s.roomToClose(); err != nil {
		return err
	}
	var err error
	if !s.dbClosed {
		err = s.db.Close()
	}
	if s.closeRO != nil {
		s.closeRO()
	}
	return err
}

// HeadRevision is the latest committed revision.
func (s *Store) HeadRevision(context.Context) (Revision, error) { return s.headRev() }

func (s *Store) headRev() (Revision, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	if err := s.damaged(); err != nil {
		return 0, err
	}
	return s.head, nil
}

// GCWindow is how long old revisions stay readable.
func (s *Store) GCWindow() time.Duration { return s.opts.GCWindow }

// MaxBatch is the most updates one Write accepts.
func (s *Store) MaxBatch() int { return s.opts.MaxBatch }

// checkReadable says whether rev may be read now.
func (s *Store) checkReadable(rev Revision) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.damaged(); err != nil {
		return err
	}
	if rev > s.head {
		return fmt.Errorf("revision %d: %w (head is %d)", rev, ErrRevisionInFuture, s.head)
	}
	if rev < s.discard {
		return fmt.Errorf("revision %d: %w (oldest readable is %d)", rev, ErrRevisionTooOld, s.discard)
	}
	return nil
}

// WaitForRevision blocks until the head is at least rev, or ctx ends.
func (s *Store) WaitForRevision(ctx context.Context, rev Revision) error {
	for {
		s.mu.RLock()
		head, ch, closed := s.head, s.notify, s.closed
		s.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		if head >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// committed publishes a new head after a successful commit (caller holds wmu).
func (s *Store) committed(rev Revision, at time.Time) {
	s.mu.Lock()
	s.head = rev
	s.times = append(s.times, revTime{rev, at})
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}
