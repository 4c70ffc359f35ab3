package postgres_test

import (
	"context"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/datastore/storetest"
	"github.com/reach-authz/reach/internal/pgtest"
)

// TestContract runs the store contract that every driver passes, each test
// on a fresh database of the binary's throwaway cluster.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) datastore.Datastore {
		ctx := context.Background()
		uri := pgtest.NewDatabase(t)
		if _, _, err := postgres.Migrate(ctx, uri); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		s, err := postgres.Open(ctx, uri, postgres.Options{GCWindow: cfg.GCWindow, GCInterval: cfg.GCInterval, MaxBatch: cfg.MaxBatch})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
