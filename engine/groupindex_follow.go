package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/reach-authz/reach/tuples"
)

// indexSource is what the group index reads besides snapshots: every
// relationship of a relation at a revision, and the change feed.
// datastore.Datastore has both (every driver); a Store without them gets
// no index.
type indexSource interface {
	ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error)
	Changes(ctx context.Context, after tuples.Revision, limit int) ([]tuples.ChangeSet, tuples.Revision, error)
}

const (
	// groupIndexWarmup: the first build starts once this many requests
	// could have used the index, so that a one-shot command (reach check)
	// does not read every group to answer one question.
	groupIndexWarmup = 64
	// changesBatch is the most change sets read from the feed at once.
	changesBatch = 1000
	// defaultGroupIndexMaxBytes bounds the index's memory (estimated).
	defaultGroupIndexMaxBytes = 512 << 20
	// groupIndexRetry is the least time between two failed builds.
	groupIndexRetry = time.Second
)

// errIndexTooLarge is returned when the index would pass
// Options.GroupIndexMaxBytes.
var errIndexTooLarge = errors.New("the group index would pass its memory bound")

// groupIndexer builds the group index of an Engine and keeps it at the
// head of the store: in the background, started by the requests that find
// it missing or behind (so an idle engine does no work), one build or
// catch-up at a time.
type groupIndexer struct {
	e   *Engine
	src indexSource
	max int64

	cur   atomic.Pointer[groupIndex]
	asked atomic.Int64
	busy  atomic.Bool

	lifeMu sync.Mutex // guards closed and wg.Add
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex // one build or catch-up at a time

	// nextKick (unix nanoseconds) delays the kicks of requests that find
	// no index of their schema: after a failed build, or while the head's
	// schema is another one.
	nextKick atomic.Int64

	smu sync.Mutex // guards what follows (short holds: read by stats)
	// refused is the signature of a schema whose index was too large (it
	// is not built again until the schema changes).
	refused      string
	lastFail     time.Time
	err          error
	builds       uint64
	batches      uint64
	buildTime    time.Duration
	lastCaughtUp time.Time
	noNesting    bool
}

// note updates the indexer's state and counters.
func (gi *groupIndexer) note(f func(gi *groupIndexer)) {
	gi.smu.Lock()
	defer gi.smu.Unlock()
	f(gi)
}

func newGroupIndexer(e *Engine, src indexSource, maxBytes int64) *groupIndexer {
	if maxBytes <= 0 {
		maxBytes = defaultGroupIndexMaxBytes
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &groupIndexer{e: e, src: src, max: maxBytes, ctx: ctx, cancel: cancel}
}

// view returns the index a request reading revision rev under model m may
// use, or nil (none, another schema's, built after rev, or behind rev: the
// request walks, and the index is brought up to date in the background).
func (gi *groupIndexer) view(rev tuples.Revision, m *model) *groupIndex {
	if gi == nil || m.groupSig == "" {
		return nil
	}
	x := gi.cur.Load()
	if x == nil || x.sig != m.groupSig {
		if gi.asked.Add(1) >= groupIndexWarmup {
			if now := time.Now().UnixNano(); now >= gi.nextKick.Load() {
				gi.nextKick.Store(now + int64(groupIndexRetry/10))
				gi.kick()
			}
		}
		return nil
	}
	if rev < x.builtAt {
		return nil
	}
	if rev > x.revision() {
		gi.kick()
		return nil
	}
	return x
}

// kick starts a background sync unless one is running.
func (gi *groupIndexer) kick() {
	// Every check that finds the index behind asks for a catch-up: while
	// one runs, that is one atomic load, not a lock every request takes.
	if gi.busy.Load() {
		return
	}
	gi.lifeMu.Lock()
	defer gi.lifeMu.Unlock()
	if gi.closed || !gi.busy.CompareAndSwap(false, true) {
		return
	}
	gi.wg.Add(1)
	go func() {
		defer gi.wg.Done()
		defer gi.busy.Store(false)
		gi.sync(gi.ctx, false) // (its error is kept for the stats)
	}()
}

func (gi *groupIndexer) close() {
	gi.lifeMu.Lock()
	gi.closed = true
	gi.lifeMu.Unlock()
	gi.cancel()
	gi.wg.Wait()
}

// sync builds the index if it is missing or of another schema than the
// head's, then follows the change feed to the head. force retries a build
// that failed recently.
func (gi *groupIndexer) sync(ctx context.Context, force bool) error {
	gi.mu.Lock()
	defer gi.mu.Unlock()
	err := gi.syncLocked(ctx, force)
	if err != nil {
		gi.note(func(gi *groupIndexer) { gi.err = err })
		gi.nextKick.Store(time.Now().Add(groupIndexRetry).UnixNano())
	}
	return err
}

func (gi *groupIndexer) syncLocked(ctx context.Context, force bool) error {
	head, err := gi.e.head(ctx)
	if err != nil {
		return err
	}
	snap, m, err := gi.e.snapshot(ctx, head)
	if err != nil {
		if errors.Is(err, ErrNoSchema) {
			return nil
		}
		return err
	}
	snap.Close()
	noNesting := m.groupSig == ""
	gi.note(func(gi *groupIndexer) { gi.noNesting = noNesting })
	if noNesting {
		gi.cur.Store(nil)
		gi.note(func(gi *groupIndexer) { gi.err = nil })
		return nil
	}
	x := gi.cur.Load()
	if x == nil || x.sig != m.groupSig {
		gi.smu.Lock()
		skip := m.groupSig == gi.refused || time.Since(gi.lastFail) < groupIndexRetry
		gi.smu.Unlock()
		if skip && !force {
			return nil
		}
		if x, err = gi.build(ctx, head, m); err != nil {
			return err
		}
	}
	rebuilt := false
	for {
		sets, upto, err := gi.src.Changes(ctx, x.revision(), changesBatch)
		if errors.Is(err, tuples.ErrRevisionTooOld) && !rebuilt {
			// The feed no longer reaches back to the index: start again
			// from the head.
			rebuilt = true
			if head, err = gi.e.head(ctx); err != nil {
				return err
			}
			if x, err = gi.build(ctx, head, m); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("group index: following the changes after revision %d: %w", x.revision(), err)
		}
		x.apply(sets, upto)
		gi.note(func(gi *groupIndexer) { gi.batches++ })
		if x.bytes() > gi.max {
			// Grown past its bound: build it again, with fewer upper
			// relations, or none if the core alone is too large.
			if head, err = gi.e.head(ctx); err != nil {
				return err
			}
			if x, err = gi.build(ctx, head, m); err != nil {
				return err
			}
			continue
		}
		if len(sets) < changesBatch {
			break
		}
	}
	gi.note(func(gi *groupIndexer) { gi.lastCaughtUp, gi.err = time.Now(), nil })
	return nil
}

func (gi *groupIndexer) refuse(sig string) {
	gi.cur.Store(nil)
	gi.note(func(gi *groupIndexer) { gi.refused, gi.lastFail = sig, time.Now() })
}

// build reads every relationship of the indexed relations at revision rev
// and publishes the index: the core, which must fit under gi.max, and as
// many upper relations, in order, as fit under half of it.
func (gi *groupIndexer) build(ctx context.Context, rev tuples.Revision, m *model) (*groupIndex, error) {
	start := time.Now()
	upper := len(m.groupRels) - m.groupCore
	for {
		x, fit, err := gi.buildUpper(ctx, rev, m, upper)
		if errors.Is(err, errIndexTooLarge) {
			gi.refuse(m.groupSig)
			return nil, fmt.Errorf("group index of %s: %w (%d bytes)", m.groupSig, err, gi.max)
		}
		if err != nil {
			gi.note(func(gi *groupIndexer) { gi.lastFail = time.Now() })
			return nil, err
		}
		if fit < upper {
			upper = fit // read again without the relation that did not fit
			continue
		}
		gi.cur.Store(x)
		gi.note(func(gi *groupIndexer) { gi.builds, gi.buildTime, gi.refused = gi.builds+1, time.Since(start), "" })
		return x, nil
	}
}

// buildUpper builds the index of the core and the first upper relations.
// fit < upper says that the index passed its bound while reading upper
// relation fit (or, when closing, with all of them: then upper-1).
func (gi *groupIndexer) buildUpper(ctx context.Context, rev tuples.Revision, m *model, upper int) (_ *groupIndex, fit int, _ error) {
	x := newGroupIndex(m, rev, upper)
	n := 0
	for ri, k := range x.rels {
		if !x.present[ri] {
			break
		}
		limit := gi.max
		if ri >= m.groupCore {
			limit /= 2
		}
		_, err := gi.src.ForEach(ctx, rev, tuples.Filter{ResourceType: k.typ, Relation: k.rel}, func(r tuples.Relationship) (bool, error) {
			x.add(x.node(ri, r.ResourceID), &r, false)
			if n++; n%4096 == 0 && x.bytes() > limit {
				return false, errIndexTooLarge
			}
			return true, nil
		})
		if err == nil && x.bytes() > limit {
			err = errIndexTooLarge
		}
		if errors.Is(err, errIndexTooLarge) && ri >= m.groupCore {
			return nil, ri - m.groupCore, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("group index: reading %s#%s at revision %d: %w", k.typ, k.rel, rev, err)
		}
	}
	x.finish()
	switch {
	case upper > 0 && x.bytes() > gi.max/2:
		return nil, upper - 1, nil
	case x.bytes() > gi.max:
		return nil, 0, errIndexTooLarge
	}
	return x, upper, nil
}

// bytes estimates the memory the index holds (the caller holds x.mu or
// owns x).
func (x *groupIndex) bytes() int64 {
	const (
		mapEntry    = 48 // a map slot of a string key and a uint32, with overhead
		dirtyEntry  = 120
		scratch     = 6 * 4
		sliceHeader = 24
	)
	b := int64(len(x.nodes)) * int64(unsafe.Sizeof(gnode{})+mapEntry+scratch)
	b += int64(x.idBytes)
	b += int64(2*x.nEdges+x.pairs) * 4
	b += int64(x.nMembers) * mapEntry
	b += int64(len(x.multi)) * sliceHeader
	b += int64(len(x.dirty)) * dirtyEntry
	return b
}

// GroupIndexStats describe an Engine's group index (see Options.DisableGroupIndex).
type GroupIndexStats struct {
	// State is "off" (disabled, or a store without a change feed), "no
	// nesting" (the schema has no relation that nests), "waiting" (not
	// built yet: the first build starts once requests need it), "ready",
	// or "refused" (too large for Options.GroupIndexMaxBytes).
	State string
	// Relations are the relations indexed ("type#relation", comma-separated).
	// (For "refused": the core that did not fit, then after "|" the upper
	// relations.)
	Relations string
	// Revision is the revision the index is at; Lag how many revisions
	// the store's head is ahead of it (0 when it is at the head), and
	// LastCaughtUp when it last reached the head it read.
	Revision     tuples.Revision
	Lag          uint64
	LastCaughtUp time.Time
	// Groups are the objects of indexed relations (nodes), Edges the
	// clean group-in-group relationships, Members the clean direct
	// memberships, Unclean the relationships the index leaves to the
	// walk (caveats, expirations, wildcards, subject sets it does not
	// index), Pairs the (group, nested group) pairs of the closure.
	Groups, Edges, Members, Unclean, Pairs int
	// Bytes estimates the memory the index holds.
	Bytes int64
	// Hits counts the sub-problems the index answered (since its last
	// build).
	Hits uint64
	// Builds counts the builds from the store, Batches the batches of
	// changes applied; BuildTime is how long the last build took.
	Builds, Batches uint64
	BuildTime       time.Duration
	// Err is the last error the index met ("" when the last sync worked).
	Err string
}

// GroupIndexStats reports the size and lag of the group index. It reads
// the store's head revision to measure the lag.
func (e *Engine) GroupIndexStats(ctx context.Context) GroupIndexStats {
	gi := e.groups
	if gi == nil {
		return GroupIndexStats{State: "off"}
	}
	gi.smu.Lock()
	st := GroupIndexStats{Builds: gi.builds, Batches: gi.batches, BuildTime: gi.buildTime, LastCaughtUp: gi.lastCaughtUp}
	if gi.err != nil {
		st.Err = gi.err.Error()
	}
	switch {
	case gi.noNesting:
		st.State = "no nesting"
	case gi.refused != "":
		st.State, st.Relations = "refused", gi.refused
	default:
		st.State = "waiting"
	}
	gi.smu.Unlock()
	x := gi.cur.Load()
	if x == nil {
		return st
	}
	st.State, st.Relations = "ready", x.relations()
	x.mu.RLock()
	st.Revision = x.revision()
	st.Groups, st.Edges, st.Members, st.Unclean, st.Pairs = len(x.nodes), x.nEdges, x.nMembers, len(x.dirty), x.pairs
	st.Bytes = x.bytes()
	x.mu.RUnlock()
	st.Hits = x.hits.Load()
	if head, err := e.head(ctx); err == nil && head > st.Revision {
		st.Lag = uint64(head - st.Revision)
	}
	return st
}

// SyncGroupIndex builds the group index now if it is missing (or of an
// older schema) and brings it to the store's head, waiting for it. A
// server may call it at start so that its first requests find the index;
// without it the index is built in the background once requests need it.
// It does nothing when the index is off or the schema has no nesting.
func (e *Engine) SyncGroupIndex(ctx context.Context) error {
	if e.groups == nil {
		return nil
	}
	return e.groups.sync(ctx, true)
}

// Close stops the engine's background work (the group index's builds and
// catch-ups) and waits for it. An engine used after Close still answers,
// without the index catching up.
func (e *Engine) Close() {
	if e.groups != nil {
		e.groups.close()
	}
}
