package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Store is what the engine reads: *tuples.Store satisfies it.
type Store interface {
	HeadRevision(ctx context.Context) (tuples.Revision, error)
	Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error)
}

// Engine answers checks and lookups over a Store. It is safe for concurrent
// use.
type Engine struct {
	store Store
	opts  Options
	cache *checkCache // nil when off
	// groups keeps the group index; nil when off.
	groups *groupIndexer

	quant atomic.Pointer[quantized]

	modelsMu sync.Mutex
	models   map[*schema.Program]*model

	now func() time.Time
}

// quantized is the revision minimize_latency reads until the window ends.
type quantized struct {
	rev   tuples.Revision
	until time.Time
}

// New returns an Engine reading store.
func New(store Store, opts Options) *Engine {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = defaultMaxDepth
	}
	if opts.CacheMaxBytes == 0 {
		opts.CacheMaxBytes = DefaultCacheMaxBytes
		if opts.CacheSize > 0 {
			opts.CacheMaxBytes = int64(opts.CacheSize) * cacheEntryBytes
		}
	}
	if opts.Quantization == 0 {
		opts.Quantization = defaultQuantization
	}
	if opts.MaxLookupResults <= 0 {
		opts.MaxLookupResults = DefaultMaxLookupResults
	}
	e := &Engine{store: store, opts: opts, models: map[*schema.Program]*model{}, now: time.Now}
	if opts.CacheSize >= 0 && opts.CacheMaxBytes > 0 {
		e.cache = newCheckCache(opts.CacheMaxBytes, opts.CacheSize, defaultCacheShards)
	}
	if src, ok := store.(indexSource); ok && !opts.DisableGroupIndex {
		e.groups = newGroupIndexer(e, src, opts.GroupIndexMaxBytes)
	}
	return e
}

// CacheStats returns the check cache's hit and miss counters (zero when the
// cache is off).
func (e *Engine) CacheStats() CacheStats {
	if e.cache == nil {
		return CacheStats{}
	}
	return e.cache.stats()
}

// revision picks the revision a request with consistency c reads.
// Revision returns the revision a read with consistency c reads: for
// minimize_latency the revision shared by the current quantization window,
// for at_least_as_fresh that one or a newer one if the token asks for it,
// for at_exact_snapshot the token's own, for fully_consistent the head.
// Servers that read the store directly (relationship reads, exports) use it
// to see what the engine would see. A revision newer than the head, or older
// than the garbage-collection window, is refused when it is read, not here.
func (e *Engine) Revision(ctx context.Context, c Consistency) (tuples.Revision, error) {
	return e.revision(ctx, c)
}

func (e *Engine) revision(ctx context.Context, c Consistency) (tuples.Revision, error) {
	switch c.Mode {
	case MinimizeLatency:
		return e.quantizedRevision(ctx)
	case FullyConsistent:
		return e.head(ctx)
	case AtLeastAsFresh, AtExactSnapshot:
		if c.Token == "" {
			return 0, fmt.Errorf("consistency %s needs a token", c.Mode)
		}
		want, err := tuples.ParseToken(c.Token)
		if err != nil {
			return 0, err
		}
		if c.Mode == AtExactSnapshot {
			return want, nil
		}
		q, err := e.quantizedRevision(ctx)
		if err != nil {
			return 0, err
		}
		if q >= want {
			return q, nil
		}
		head, err := e.head(ctx)
		if err != nil {
			return 0, err
		}
		if head < want {
			// The store will refuse it (tuples.ErrRevisionInFuture).
			return want, nil
		}
		return head, nil
	}
	return 0, fmt.Errorf("unknown consistency mode %d", c.Mode)
}

func (e *Engine) head(ctx context.Context) (tuples.Revision, error) {
	r, err := e.store.HeadRevision(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the head revision: %w", err)
	}
	return r, nil
}

// quantizedRevision is the revision shared by every minimize_latency request
// in one quantization window: the head revision when the window opened.
func (e *Engine) quantizedRevision(ctx context.Context) (tuples.Revision, error) {
	if e.opts.Quantization < 0 {
		return e.head(ctx)
	}
	now := e.now()
	if q := e.quant.Load(); q != nil && now.Before(q.until) {
		return q.rev, nil
	}
	r, err := e.head(ctx)
	if err != nil {
		return 0, err
	}
	// Windows are aligned on multiples of the quantization, as SpiceDB
	// aligns its quantized revisions, so that engines agree.
	until := now.Truncate(e.opts.Quantization).Add(e.opts.Quantization)
	e.quant.Store(&quantized{rev: r, until: until})
	return r, nil
}

// modelProvider lets a Snapshot without a compiled Program (tests) hand the
// engine its model directly.
type modelProvider interface {
	engineModel() *model
}

// snapshot opens the store at rev and returns the model of its schema.
func (e *Engine) snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, *model, error) {
	snap, err := e.store.Snapshot(ctx, rev)
	if err != nil {
		return nil, nil, fmt.Errorf("reading revision %d: %w", rev, err)
	}
	m, err := e.modelOf(snap)
	if err != nil {
		snap.Close()
		return nil, nil, err
	}
	return snap, m, nil
}

func (e *Engine) modelOf(snap tuples.Snapshot) (*model, error) {
	prog := snap.Schema()
	if prog == nil {
		if mp, ok := snap.(modelProvider); ok {
			return mp.engineModel(), nil
		}
		return nil, fmt.Errorf("revision %d: %w", snap.Revision(), ErrNoSchema)
	}
	e.modelsMu.Lock()
	defer e.modelsMu.Unlock()
	m := e.models[prog]
	if m == nil {
		if len(e.models) > 64 { // schemas change rarely; forget old ones
			clear(e.models)
		}
		var err error
		if m, err = newProgramModel(prog); err != nil {
			return nil, fmt.Errorf("revision %d: %w", snap.Revision(), err)
		}
		e.models[prog] = m
	}
	return m, nil
}

// errUnknownRelation reports a request naming what the schema lacks.
func errUnknownRelation(typ, rel string, m *model) error {
	if m.types[typ] == nil {
		return fmt.Errorf("object definition %q: %w", typ, ErrUnknown)
	}
	return fmt.Errorf("relation or permission %q on %q: %w", rel, typ, ErrUnknown)
}

var errStop = errors.New("stop")
