package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reach-authz/reach/tuples"
)

// Changes returns the change sets of the revisions after `after` up to the
// head, in commit order, at most limit of them (0: no limit), and the
// revision read up to. Revisions that changed no relationship (schema
// writes, deletes of absent relationships) are not listed. A revision
// older than the GC window gives tuples.ErrRevisionTooOld. Writes made
// through every node are listed: the log is a table.
func (s *Store) Changes(ctx context.Context, after tuples.Revision, limit int) ([]tuples.ChangeSet, tuples.Revision, error) {
	// Checked on the primary, which the change sets are read from: a
	// lagging replica may not have replayed the garbage collection that
	// made `after` too old there.
	if err := s.checkOpen(); err != nil {
		return nil, 0, err
	}
	if after > math.MaxInt64 {
		return nil, 0, fmt.Errorf("changes after %d: revision %d: %w", after, after, tuples.ErrRevisionInFuture)
	}
	if err := s.readableOn(ctx, s.pool, int64(after)); err != nil {
		return nil, 0, fmt.Errorf("changes after %d: %w", after, err)
	}
	head, err := s.HeadRevision(ctx)
	if err != nil {
		return nil, 0, err
	}
	var b sqlb
	b.WriteString(`SELECT rev, changes FROM reach_changes WHERE rev > ` + b.arg(int64(after)) + ` AND rev <= ` + b.arg(int64(head)) + ` ORDER BY rev`)
	if limit > 0 {
		b.WriteString(` LIMIT ` + b.arg(limit+1))
	}
	var out []tuples.ChangeSet
	err = s.query(ctx, s.pool, b.String(), b.args, func() { out = out[:0] }, func(rows pgx.Rows) error {
		var rev int64
		var v []byte
		if err := rows.Scan(&rev, &v); err != nil {
			return err
		}
		cs, err := decodeChanges(v)
		if err != nil {
			return fmt.Errorf("changes of revision %d: %w", rev, err)
		}
		out = append(out, tuples.ChangeSet{Revision: tuples.Revision(rev), Changes: cs})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].Revision, nil
	}
	return out, head, nil
}

// WaitForRevision blocks until the head is at least rev, or ctx ends. It
// wakes at once when any node commits (LISTEN/NOTIFY); one poller per Store
// also reads the head every Options.WatchPollInterval, for notifications
// lost while a connection was down, however many callers wait. While the
// database cannot be reached it keeps waiting.
func (s *Store) WaitForRevision(ctx context.Context, rev tuples.Revision) error {
	s.listenOnce.Do(func() {
		s.wg.Add(2)
		go s.listen()
		go s.poll()
	})
	if h, err := s.HeadRevision(ctx); err == nil && h >= rev {
		return nil
	} else if errors.Is(err, tuples.ErrClosed) {
		return err
	}
	for {
		s.hmu.Lock()
		head, ch := s.head, s.notify
		s.hmu.Unlock()
		if s.closed.Load() {
			return tuples.ErrClosed
		}
		if tuples.Revision(head) >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// poll reads the head every WatchPollInterval until the store closes.
func (s *Store) poll() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := time.NewTicker(s.opts.WatchPollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			qctx, qcancel := context.WithTimeout(ctx, max(s.opts.WatchPollInterval, time.Second))
			_, _ = s.HeadRevision(qctx) // records the head; errors wait for the next tick
			qcancel()
		}
	}
}

// listen holds a connection LISTENing for the revisions other nodes commit
// and records them as the head, reconnecting after failures, until the
// store closes.
func (s *Store) listen() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	backoff := s.opts.WatchPollInterval
	for ctx.Err() == nil {
		_ = s.listenOnceConn(ctx) // the poller covers the outage
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnceConn(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection ends LISTENing by being closed, not reused.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, `LISTEN reach_head`); err != nil {
		return err
	}
	// Commits from now on are notified; those before, read here.
	var head int64
	if err := pc.QueryRow(ctx, `SELECT rev FROM reach_head`).Scan(&head); err != nil {
		return err
	}
	s.observeHead(head)
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if rev, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			s.observeHead(rev)
		}
	}
}

// Watch calls fn with every change set after revision `after`, in commit
// order, waiting for new commits, until ctx ends (it then returns ctx's
// error), fn returns an error (returned), or the store closes
// (tuples.ErrClosed), as tuples.Store.Watch does.
func (s *Store) Watch(ctx context.Context, after tuples.Revision, fn func(tuples.ChangeSet) error) error {
	return tuples.Follow(ctx, s, after, fn)
}
