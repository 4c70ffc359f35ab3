package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reach-authz/reach/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func query(t *testing.T, uri string) (int, error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n)
	return n, err
}

// Each test gets an empty database of its own on the shared cluster.
func TestNewDatabase(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases with one URI %s", a)
	}
	for _, uri := range []string{a, b} {
		if n, err := query(t, uri); err != nil || n != 0 {
			t.Fatalf("%s: %d tables, %v; want an empty database", uri, n, err)
		}
	}
}

// A private cluster stops and starts again with its data.
func TestClusterStopStart(t *testing.T) {
	c := pgtest.NewCluster(t)
	uri := c.NewDatabase(t)
	if _, err := query(t, uri); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, uri); err == nil {
		t.Fatal("a stopped cluster accepted a connection")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, uri); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}

func exec(t *testing.T, uri, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// A replica streams what its primary writes; paused, it shows none of it
// until resumed; it is read-only; stopped and started, it catches up.
func TestReplica(t *testing.T) {
	c := pgtest.NewCluster(t)
	uri := c.NewDatabase(t)
	exec(t, uri, `CREATE TABLE a (x int)`)
	r := c.NewReplica(t)
	if r.Primary() != c || c.Primary() != nil || r.Port() == c.Port() {
		t.Fatalf("replica on port %d of %v, primary on %d", r.Port(), r.Primary(), c.Port())
	}
	ruri := r.URIOf(uri)
	if n, err := query(t, ruri); err != nil || n != 1 {
		t.Fatalf("the replica has %d tables (%v), want the one of the backup", n, err)
	}
	exec(t, uri, `CREATE TABLE b (x int)`)
	r.CatchUp(t)
	if n, err := query(t, ruri); err != nil || n != 2 {
		t.Fatalf("after CatchUp the replica has %d tables (%v), want 2", n, err)
	}

	r.PauseReplay(t)
	exec(t, uri, `CREATE TABLE c (x int)`)
	time.Sleep(500 * time.Millisecond) // more than the WAL writer's delay: streamed, not replayed
	if n, err := query(t, ruri); err != nil || n != 2 {
		t.Fatalf("paused, the replica has %d tables (%v), want 2", n, err)
	}
	r.ResumeReplay(t)
	r.CatchUp(t)
	if n, err := query(t, ruri); err != nil || n != 3 {
		t.Fatalf("resumed, the replica has %d tables (%v), want 3", n, err)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ruri)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `CREATE TABLE d (x int)`)
	conn.Close(ctx)
	if err == nil {
		t.Fatal("the replica accepted a write")
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	exec(t, uri, `CREATE TABLE e (x int)`)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	r.CatchUp(t)
	if n, err := query(t, ruri); err != nil || n != 4 {
		t.Fatalf("restarted, the replica has %d tables (%v), want 4", n, err)
	}
}
