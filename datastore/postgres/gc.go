package postgres

import (
	"context"
	"time"
)

// Garbage collection. Every commit records its time (the database's clock)
// in reach_revisions. A round finds the newest revision committed at or
// before now - GCWindow, D: revisions below D are no longer readable, D
// itself is (its state lasted until inside the window). It first raises
// reach_gc to D, so that reads refuse older revisions with
// tuples.ErrRevisionTooOld, and then deletes, in statements of at most
// Options.GCBatch rows, what no revision >= D can see: relationship
// versions with deleted_rev <= D, change sets of revisions <= D (Changes
// after D lists only later ones), schema versions older than the one in
// force at D, and commit times older than D. Nodes take turns (an advisory
// lock), and a round interrupted half way leaves nothing a readable
// revision needs.

// gcLock is the advisory lock key of a collection round ("reachgc").
const gcLock = 0x7265616368_6763

// GCStats count what one collection round deleted.
type GCStats struct {
	// Oldest is the oldest readable revision after the round.
	Oldest                                     int64
	Relationships, Changes, Schemas, Revisions int64
}

// CollectGarbage runs one collection round now (the background collector
// runs one every Options.GCInterval). It does nothing, without error, while
// another node collects.
func (s *Store) CollectGarbage(ctx context.Context) (GCStats, error) {
	var st GCStats
	if err := s.checkOpen(); err != nil {
		return st, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return st, classify(err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(gcLock)).Scan(&locked); err != nil {
		return st, classify(err)
	}
	if !locked {
		return st, nil
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(gcLock))

	window := s.opts.GCWindow.Microseconds()
	// Commit times grow with revisions (they are taken under the head
	// lock), so the newest revision committed before the window's start is
	// that of the latest commit time before it: one probe of the index on
	// committed_at. (Were the clock to step back, this only keeps more.)
	if err := conn.QueryRow(ctx, `UPDATE reach_gc SET rev = greatest(rev, coalesce(
			(SELECT rev FROM reach_revisions WHERE committed_at <= clock_timestamp() - $1 * interval '1 microsecond'
				ORDER BY committed_at DESC, rev DESC LIMIT 1), 0))
		RETURNING rev`, window).Scan(&st.Oldest); err != nil {
		return st, classify(err)
	}
	d := st.Oldest
	if d == 0 {
		return st, nil
	}
	batch := int64(s.opts.GCBatch)
	for _, step := range []struct {
		sql string
		n   *int64
	}{
		// The literal bound matches the partial index of deleted versions.
		{`DELETE FROM reach_relationships WHERE ctid = ANY(ARRAY(SELECT ctid FROM reach_relationships
			WHERE deleted_rev <= $1 AND deleted_rev < 9223372036854775807 LIMIT $2))`, &st.Relationships},
		{`DELETE FROM reach_changes WHERE rev IN (SELECT rev FROM reach_changes WHERE rev <= $1 ORDER BY rev LIMIT $2)`, &st.Changes},
		{`DELETE FROM reach_schemas WHERE rev IN (SELECT rev FROM reach_schemas
			WHERE rev < (SELECT max(rev) FROM reach_schemas WHERE rev <= $1) ORDER BY rev LIMIT $2)`, &st.Schemas},
		{`DELETE FROM reach_revisions WHERE rev IN (SELECT rev FROM reach_revisions WHERE rev < $1 ORDER BY rev LIMIT $2)`, &st.Revisions},
	} {
		for {
			tag, err := conn.Exec(ctx, step.sql, d, batch)
			if err != nil {
				return st, classify(err)
			}
			*step.n += tag.RowsAffected()
			if tag.RowsAffected() < batch {
				break
			}
			select {
			case <-s.stop:
				return st, nil
			default:
			}
		}
	}
	s.schemas.forget(d)
	return st, nil
}

func (s *Store) gcLoop() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// Errors (the database away) wait for the next round.
			_, _ = s.CollectGarbage(ctx)
		}
	}
}
