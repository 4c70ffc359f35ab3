package pgtest_test

import (
	"context"
	"testing"

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
