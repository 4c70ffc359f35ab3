package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewReplica makes a streaming physical replica of c for t: a base backup
// of c's data directory taken with pg_basebackup -R (which leaves
// standby.signal and primary_conninfo in it), started as a hot standby on
// a free port of its own, and stopped and removed when t ends. Every
// database of c is on it, under the same name (see URIOf), read-only; the
// databases c creates later arrive through the stream too.
//
// The replica replays what c writes as it comes, a few hundred
// milliseconds behind at most (the servers commit asynchronously, so WAL
// reaches the stream when the WAL writer flushes it); CatchUp waits for
// it, PauseReplay and ResumeReplay hold and release replay, for tests of
// a lagging replica. Stop and Start work on it as on any cluster: a
// stopped replica, or one whose primary is stopped, keeps what it has
// replayed and streams the rest once both run.
func (c *Cluster) NewReplica(t testing.TB) *Cluster {
	t.Helper()
	r, err := c.startReplica()
	if err != nil {
		t.Fatalf("pgtest: replica of the cluster on port %d: %v", c.port, err)
	}
	t.Cleanup(r.remove)
	return r
}

func (c *Cluster) startReplica() (*Cluster, error) {
	if c.primary != nil {
		return nil, fmt.Errorf("it is a replica itself")
	}
	basebackup := filepath.Join(c.bin, "pg_basebackup")
	if _, err := os.Stat(basebackup); err != nil {
		return nil, fmt.Errorf("no pg_basebackup in %s", c.bin)
	}
	r, err := newCluster()
	if err != nil {
		return nil, err
	}
	r.bin, r.primary = c.bin, c
	// initdb --auth=trust lets replication connections from 127.0.0.1 in
	// (pg_hba.conf), and PostgreSQL 15 defaults to wal_level=replica and
	// max_wal_senders=10: the primary needs no change. -X stream copies
	// the WAL written during the backup through a second connection.
	out, err := r.command(basebackup, "-D", r.dataDir(), "-h", "127.0.0.1", "-p", strconv.Itoa(c.port),
		"-U", "postgres", "-R", "-X", "stream", "--checkpoint=fast", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(r.dir)
		return nil, fmt.Errorf("pg_basebackup: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := r.listen(); err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	return r, nil
}

// Primary is the cluster c replicates, nil if c is not a replica.
func (c *Cluster) Primary() *Cluster { return c.primary }

// URIOf is the URI of the database that uri names (on any cluster) on c:
// for a replica, the copy of a database of its primary.
func (c *Cluster) URIOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		panic(fmt.Sprintf("pgtest: URIOf(%q): %v", uri, err))
	}
	return c.URI(strings.TrimPrefix(u.Path, "/"))
}

// replicaOnly fails t unless c is a replica.
func (c *Cluster) replicaOnly(t testing.TB, what string) {
	t.Helper()
	if c.primary == nil {
		t.Fatalf("pgtest: %s: the cluster on port %d is no replica", what, c.port)
	}
}

// PauseReplay stops the replica replaying WAL (pg_wal_replay_pause) and
// waits until it has: from then on, until ResumeReplay, it receives what
// the primary writes but shows none of it.
func (c *Cluster) PauseReplay(t testing.TB) {
	t.Helper()
	c.replicaOnly(t, "PauseReplay")
	if err := c.exec(context.Background(), `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatalf("pgtest: pause replay: %v", err)
	}
	c.waitFor(t, "replay to pause", `SELECT pg_get_wal_replay_pause_state() = 'paused'`)
}

// ResumeReplay lets a paused replica replay again (pg_wal_replay_resume).
func (c *Cluster) ResumeReplay(t testing.TB) {
	t.Helper()
	c.replicaOnly(t, "ResumeReplay")
	if err := c.exec(context.Background(), `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatalf("pgtest: resume replay: %v", err)
	}
	c.waitFor(t, "replay to resume", `SELECT pg_get_wal_replay_pause_state() = 'not paused'`)
}

// CatchUp waits until the replica has replayed everything its primary had
// written when CatchUp was called. Replay must not be paused.
func (c *Cluster) CatchUp(t testing.TB) {
	t.Helper()
	c.replicaOnly(t, "CatchUp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lsn, err := c.primary.flushedLSN(ctx)
	if err != nil {
		t.Fatalf("pgtest: the primary's WAL position: %v", err)
	}
	c.waitFor(t, "replay to reach "+lsn, `SELECT coalesce(pg_last_wal_replay_lsn() >= '`+lsn+`'::pg_lsn, false)`)
}

// waitFor polls the one-boolean query q on c until it is true, for a
// minute at most.
func (c *Cluster) waitFor(t testing.TB, what, q string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var ok bool
		err := c.queryRow(ctx, q, &ok)
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pgtest: waited a minute for %s (%v): %s", what, err, tail(filepath.Join(c.dir, "postgres.log")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flushedLSN flushes the WAL that c has written (asynchronous commits
// included, since the servers run with synchronous_commit=off) and returns
// the position flushed, which is a record's end: a replica has replayed
// everything written before when its replay position reaches it.
func (c *Cluster) flushedLSN(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, c.URI("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	// A synchronous commit of a transaction that wrote WAL (here a
	// transactional logical decoding message, which changes nothing)
	// flushes the WAL up to its commit record.
	if _, err := conn.Exec(ctx, `SET synchronous_commit = on`); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_logical_emit_message(true, 'pgtest', 'catch up')`); err != nil {
		return "", err
	}
	var lsn string
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&lsn)
	return lsn, err
}

// queryRow runs a one-row query in the postgres database.
func (c *Cluster) queryRow(ctx context.Context, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, c.URI("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dest...)
}
