package testdatastore

import (
	"context"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/internal/pgtest"
)

func init() { openers["postgres"] = openPostgres }

// openPostgres migrates a fresh database of the test binary's throwaway
// cluster (the binary's TestMain must call Main) and opens it.
func openPostgres(t testing.TB, o Options) datastore.Datastore {
	t.Helper()
	ctx := context.Background()
	uri := pgtest.NewDatabase(t)
	if _, _, err := postgres.Migrate(ctx, uri); err != nil {
		t.Fatalf("migrate %s: %v", uri, err)
	}
	s, err := postgres.Open(ctx, uri, postgres.Options{GCWindow: o.GCWindow, GCInterval: o.GCInterval, MaxBatch: o.MaxBatch})
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the postgres store: %v", err)
		}
	})
	return s
}

// Main runs a test binary's tests and then stops the PostgreSQL clusters
// they started: call it from TestMain in every package whose tests use
// Open.
func Main(m *testing.M) { pgtest.Main(m) }
