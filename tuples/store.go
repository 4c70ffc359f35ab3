package tuples

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
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
)

// Defaults of Options.
const (
	DefaultGCWindow   = 24 * time.Hour
	DefaultMaxBatch   = 1000
	DefaultGCInterval = time.Minute

	// defaultDiskMemTable is the memtable size of an on-disk store when
	// Options.MemTableSize is 0.
	defaultDiskMemTable = 128 << 20
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
	return o
}

// Store is the relationship store: Badger in managed mode, where the commit
// timestamp of every batch is its Revision. Writes are serialised; reads are
// snapshots and run concurrently with writes and with each other.
type Store struct {
	db    *badger.DB
	opts  Options
	names *nameTable

	wmu sync.Mutex // serialises writers; guards nothing readers need

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
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
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
		WithBlockCacheSize(0)
	if opts.IndexCacheSize > 0 {
		bo = bo.WithIndexCacheSize(opts.IndexCacheSize)
	}
	switch {
	case opts.MemTableSize > 0:
		bo = bo.WithMemTableSize(max(opts.MemTableSize, 8<<20))
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
	db, err := badger.OpenManaged(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, names: newNameTable(), notify: make(chan struct{}), stop: make(chan struct{}), gcDone: make(chan struct{})}
	err = s.load()
	if err == nil {
		err = s.loadSchemaVersions()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	go s.gcLoop()
	return s, nil
}

// load reads the head revision, the names and the recent commit times.
func (s *Store) load() error {
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	item, err := txn.Get([]byte{spaceHead})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return err
	default:
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("corrupt head revision")
		}
		s.head = Revision(binary.BigEndian.Uint64(v))
	}
	n := s.names.load()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceName}, PrefetchValues: false})
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		id, k := binary.Uvarint(v)
		if k <= 0 {
			it.Close()
			return fmt.Errorf("corrupt name entry")
		}
		n.restore(string(item.Key()[1:]), id)
	}
	it.Close()
	it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceTime}, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		rev := Revision(binary.BigEndian.Uint64(item.Key()[1:]))
		v, err := item.ValueCopy(nil)
		if err != nil || len(v) != 8 {
			return fmt.Errorf("corrupt revision time entry: %v", err)
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

// Close stops the background collector and closes the database.
func (s *Store) Close() error {
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
	return s.db.Close()
}

// HeadRevision is the latest committed revision.
func (s *Store) HeadRevision(context.Context) (Revision, error) { return s.headRev() }

func (s *Store) headRev() (Revision, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
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
