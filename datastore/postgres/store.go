package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

var _ datastore.Datastore = (*Store)(nil)

// liveRev is deleted_rev of a live row. SQL texts spell it out
// (9223372036854775807) so that the planner matches the partial indexes.
const liveRev = math.MaxInt64

// Defaults of Options.
const (
	DefaultMaxConns          = 16
	DefaultMinConns          = 0
	DefaultMaxConnLifetime   = time.Hour
	DefaultWatchPollInterval = 100 * time.Millisecond
	// DefaultGCBatch is how many rows one garbage-collection statement
	// deletes.
	DefaultGCBatch = 10000
)

// Options configure a Store. The zero value uses the defaults.
type Options struct {
	// GCWindow is how long old revisions stay readable (default
	// tuples.DefaultGCWindow, 24h). Every node of one database should use
	// the same window.
	GCWindow time.Duration
	// GCInterval is how often the background collector runs (default
	// tuples.DefaultGCInterval, 1m). Nodes collect one at a time (an
	// advisory lock); a negative interval turns the collector off.
	GCInterval time.Duration
	// GCBatch is how many rows one collecting statement deletes (default
	// 10,000), so that collection never holds long locks.
	GCBatch int
	// MaxBatch is the most updates one Write accepts (default
	// tuples.DefaultMaxBatch, 1,000). Import is not limited by it.
	MaxBatch int
	// MaxConns bounds the connection pool (default 16); MinConns
	// connections are kept open (default 0); a connection is replaced after
	// MaxConnLifetime (default 1h). The same apply to the replica's pool.
	MaxConns        int32
	MinConns        int32
	MaxConnLifetime time.Duration
	// ReadReplicaURI, if set, is a streaming (physical, hot standby)
	// replica of the database, a URI or key=value string as the primary's.
	// It serves snapshot and relationship reads at the revisions it has
	// replayed, checked per read, so never a stale answer; reads at newer
	// revisions go to the primary, as does everything else (the head,
	// writes, Changes and Watch). A replica query that fails is made on the
	// primary, an unreachable replica is left alone for five seconds, and
	// Open does not need the replica up. With the primary down, reads at
	// revisions the replica has replayed are still answered. See the
	// package documentation, "Read replica".
	ReadReplicaURI string
	// PrefetchRows: a read of one relation of an object through a
	// snapshot also reads, in the same query, the other relations of the
	// object that a check may read next (as the schema says), at most
	// this many rows of each (default 64), and the snapshot answers the
	// reads of them that follow from memory (see objects.go). Negative:
	// every read is a query of its own.
	PrefetchRows int
	// WatchPollInterval is how often WaitForRevision (and so Watch) reads
	// the head while it waits (default 100ms). Writes through any node also
	// wake waiters at once through LISTEN/NOTIFY; the polling covers lost
	// notifications.
	WatchPollInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.GCWindow <= 0 {
		o.GCWindow = tuples.DefaultGCWindow
	}
	if o.GCInterval == 0 {
		o.GCInterval = tuples.DefaultGCInterval
	}
	if o.GCBatch <= 0 {
		o.GCBatch = DefaultGCBatch
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = tuples.DefaultMaxBatch
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MinConns <= 0 {
		o.MinConns = DefaultMinConns
	}
	if o.MinConns > o.MaxConns {
		o.MinConns = o.MaxConns
	}
	if o.MaxConnLifetime <= 0 {
		o.MaxConnLifetime = DefaultMaxConnLifetime
	}
	if o.PrefetchRows == 0 {
		o.PrefetchRows = DefaultPrefetchRows
	}
	o.PrefetchRows = min(o.PrefetchRows, laterPage)
	if o.WatchPollInterval <= 0 {
		o.WatchPollInterval = DefaultWatchPollInterval
	}
	return o
}

// Store is a Datastore on PostgreSQL. Any number of Stores, in any number
// of processes, may share one database. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	replica *pgxpool.Pool // nil without Options.ReadReplicaURI
	opts    Options

	// replicaDownUntil is when reads may try the replica again after it
	// could not be reached (unix nanoseconds); replicaChecked is set once
	// the replica's schema version was found to be the binary's.
	replicaDownUntil atomic.Int64
	replicaChecked   atomic.Bool

	schemas      schemaCache
	plans        readPlans
	readableRevs readableRevs

	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup

	hmu    sync.Mutex
	head   int64         // the highest head seen
	notify chan struct{} // closed and replaced when head grows

	listenOnce sync.Once
}

// Open connects to the PostgreSQL database at uri (a URI or a key=value
// connection string as pgx reads them). The database must be at this
// binary's schema version: Open refuses one that `reach datastore migrate`
// (Migrate) has not brought up to date, or that a newer binary migrated.
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	pool, err := newPool(ctx, uri, opts)
	if err != nil {
		return nil, err
	}
	if err := checkSchemaVersion(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres datastore: %w", err)
	}
	s := &Store{pool: pool, opts: opts, stop: make(chan struct{}), notify: make(chan struct{})}
	if opts.ReadReplicaURI != "" {
		if s.replica, err = newPool(ctx, opts.ReadReplicaURI, opts); err != nil {
			pool.Close()
			return nil, err
		}
		// A replica that answers must be at the binary's schema version;
		// one that cannot be reached now does not keep the store from
		// opening (reads go to the primary): its version is checked when
		// it answers.
		switch err := s.checkReplica(ctx); {
		case err == nil:
		case errors.Is(err, datastore.ErrUnavailable):
			s.replicaFailed(err)
		default:
			pool.Close()
			s.replica.Close()
			return nil, fmt.Errorf("open postgres datastore: read replica: %w", err)
		}
	}
	if opts.GCInterval > 0 {
		s.wg.Add(1)
		go s.gcLoop()
	}
	return s, nil
}

func newPool(ctx context.Context, uri string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(uri)
	if err != nil {
		return nil, fmt.Errorf("open postgres datastore: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.MinConns = opts.MinConns
	cfg.MaxConnLifetime = opts.MaxConnLifetime
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres datastore: %w", classify(err))
	}
	return pool, nil
}

// Close stops the background work and closes the connections (waiting for
// those in use to be given back).
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	s.hmu.Lock()
	close(s.notify)
	s.hmu.Unlock()
	s.pool.Close()
	if s.replica != nil {
		s.replica.Close()
	}
	return nil
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return tuples.ErrClosed
	}
	return nil
}

// GCWindow is how long old revisions stay readable.
func (s *Store) GCWindow() time.Duration { return s.opts.GCWindow }

// MaxBatch is the most updates one Write accepts.
func (s *Store) MaxBatch() int { return s.opts.MaxBatch }

// HeadRevision is the latest committed revision: read from the database, so
// that a revision committed through any node is seen.
func (s *Store) HeadRevision(ctx context.Context) (tuples.Revision, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var head int64
	if err := s.queryRow(ctx, s.pool, `SELECT rev FROM reach_head`, nil, &head); err != nil {
		return 0, err
	}
	s.observeHead(head)
	return tuples.Revision(head), nil
}

// observeHead records a committed head and wakes the waiters if it grew.
func (s *Store) observeHead(rev int64) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if rev <= s.head || s.closed.Load() {
		return
	}
	s.head = rev
	close(s.notify)
	s.notify = make(chan struct{})
}

// queryRow runs a one-row query and scans it, trying once more on another
// connection when the first one turns out broken (one left from before a
// server restart). Reads only: they are safe to repeat. A query on the
// replica is not tried again there: read takes it to the primary.
func (s *Store) queryRow(ctx context.Context, q *pgxpool.Pool, sql string, args []any, dest ...any) error {
	for attempt := 0; ; attempt++ {
		err := q.QueryRow(ctx, sql, args...).Scan(dest...)
		if err == nil || errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if attempt > 0 || q == s.replica || ctx.Err() != nil || !retryable(err) || s.closed.Load() {
			return classify(err)
		}
	}
}

// query runs a query and calls scan for every row (scan may not call back
// into the store's connections: rows are read as they come), with the same
// retry as queryRow. A retried query starts over, so scan must collect into
// state that reset clears.
func (s *Store) query(ctx context.Context, q *pgxpool.Pool, sql string, args []any, reset func(), scan func(pgx.Rows) error) error {
	for attempt := 0; ; attempt++ {
		if reset != nil {
			reset()
		}
		err := s.queryOnce(ctx, q, sql, args, scan)
		if err == nil {
			return nil
		}
		if attempt > 0 || q == s.replica || ctx.Err() != nil || !retryable(err) || s.closed.Load() {
			return classify(err)
		}
	}
}

func (s *Store) queryOnce(ctx context.Context, q *pgxpool.Pool, sql string, args []any, scan func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// begin starts a write transaction, retrying once when a broken pooled
// connection fails before anything was sent.
func (s *Store) begin(ctx context.Context) (pgx.Tx, error) {
	for attempt := 0; ; attempt++ {
		tx, err := s.pool.Begin(ctx)
		if err == nil {
			return tx, nil
		}
		if attempt > 0 || ctx.Err() != nil || !retryable(err) || s.closed.Load() {
			return nil, classify(err)
		}
	}
}

// replicaRetry is how long reads leave the replica alone after it could
// not be reached: they go to the primary meanwhile, without paying for a
// failed connection each.
var replicaRetry = 5 * time.Second

// errNotReplayed says that the replica has not replayed a revision yet.
var errNotReplayed = errors.New("not replayed by the read replica yet")

// replicaUp reports whether reads should try the replica.
func (s *Store) replicaUp() bool {
	return s.replica != nil && time.Now().UnixNano() >= s.replicaDownUntil.Load()
}

// replicaFailed notes that the replica failed to answer with err: if it
// could not be reached, reads leave it alone for replicaRetry.
func (s *Store) replicaFailed(err error) {
	if unavailable(err) {
		s.replicaDownUntil.Store(time.Now().Add(replicaRetry).UnixNano())
	}
}

// checkReplica checks the replica's schema version, once.
func (s *Store) checkReplica(ctx context.Context) error {
	if s.replicaChecked.Load() {
		return nil
	}
	if err := checkSchemaVersion(ctx, s.replica); err != nil {
		return err
	}
	s.replicaChecked.Store(true)
	return nil
}

// readable checks that rev can be read now and returns the pool to read it
// from (the replica when it has replayed rev), learning the schema
// revisions up to rev on the way: one query (two when the replica lags or
// fails).
func (s *Store) readable(ctx context.Context, rev tuples.Revision) (*pgxpool.Pool, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if rev > math.MaxInt64 {
		return nil, fmt.Errorf("revision %d: %w", rev, tuples.ErrRevisionInFuture)
	}
	r := int64(rev)
	if s.replica == nil && s.readableRevs.holds(r) {
		return s.pool, nil
	}
	if s.replicaUp() {
		err := s.checkReplica(ctx)
		if errors.Is(err, ErrSchemaVersion) {
			// Not this binary's version (yet: it may still be
			// replaying a migration): left alone for a while.
			s.replicaDownUntil.Store(time.Now().Add(replicaRetry).UnixNano())
		} else if err == nil {
			err = s.readableOn(ctx, s.replica, r)
		}
		switch {
		case err == nil:
			return s.replica, nil
		case errors.Is(err, tuples.ErrRevisionTooOld):
			// The replica's oldest readable revision is never newer
			// than the primary's: the primary refuses rev too.
			return nil, err
		case errors.Is(err, errNotReplayed), errors.Is(err, ErrSchemaVersion):
		case ctx.Err() != nil:
			return nil, err
		default:
			s.replicaFailed(err) // the primary answers
		}
	}
	if err := s.readableOn(ctx, s.pool, r); err != nil {
		return nil, err
	}
	return s.pool, nil
}

// readableOn checks that rev can be read on q, the primary's pool or the
// replica's (where a revision not replayed yet gives errNotReplayed),
// learning the schema revisions up to rev.
func (s *Store) readableOn(ctx context.Context, q *pgxpool.Pool, r int64) error {
	known := s.schemas.knownUpTo()
	var head, oldest int64
	var srevs []int64
	var age pgtype.Int8
	asked := time.Now()
	err := s.queryRow(ctx, q, `SELECT h.rev, g.rev, ARRAY(SELECT rev FROM reach_schemas WHERE rev > $1 AND rev <= $2 ORDER BY rev),
			(SELECT (extract(epoch FROM clock_timestamp() - committed_at) * 1000000)::bigint FROM reach_revisions WHERE rev = $2)
		FROM reach_head h, reach_gc g`, []any{known, r}, &head, &oldest, &srevs, &age)
	if err != nil {
		return err
	}
	if r > head {
		if q == s.replica {
			return errNotReplayed
		}
		return fmt.Errorf("revision %d: %w (head is %d)", r, tuples.ErrRevisionInFuture, head)
	}
	if q == s.pool {
		s.observeHead(head)
	}
	if r < oldest {
		return fmt.Errorf("revision %d: %w (oldest readable is %d)", r, tuples.ErrRevisionTooOld, oldest)
	}
	s.schemas.learn(srevs, r)
	if q == s.pool && s.replica == nil && age.Valid {
		s.readableRevs.found(r, asked, s.opts.GCWindow-time.Duration(age.Int64)*time.Microsecond)
	}
	return nil
}

// read runs a read at rev through q, the pool that readable chose, and
// returns the pool that answered. A read on the replica that fails (for a
// reason other than ctx: the replica went down, or cancelled the query in
// a conflict with its recovery) is made again on the primary, once the
// primary has checked rev readable: the replica is optional, a failure of
// it is never the read's.
func (s *Store) read(ctx context.Context, q *pgxpool.Pool, rev int64, run func(*pgxpool.Pool) error) (*pgxpool.Pool, error) {
	err := run(q)
	if err == nil || q != s.replica || ctx.Err() != nil || errors.Is(err, pgx.ErrNoRows) {
		return q, err
	}
	s.replicaFailed(err)
	if err := s.readableOn(ctx, s.pool, rev); err != nil {
		return s.pool, err
	}
	return s.pool, run(s.pool)
}

// headOr is rev, or the head for a read at "the head" (revision 0).
func (s *Store) headOr(ctx context.Context, rev tuples.Revision) (tuples.Revision, error) {
	if rev != 0 {
		return rev, nil
	}
	return s.HeadRevision(ctx)
}
