package tuples_test

import (
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/storetest"
	"github.com/reach-authz/reach/tuples"
)

// TestContract runs the datastore contract suite against the Badger store:
// in memory, and (the subtest OnDisk) in a directory.
func TestContract(t *testing.T) {
	storetest.Run(t, contractFactory(false))
	t.Run("OnDisk", func(t *testing.T) {
		storetest.Run(t, contractFactory(true))
	})
}

// contractFactory opens a fresh store per test, in memory or on disk.
func contractFactory(onDisk bool) storetest.Factory {
	return func(t *testing.T, cfg storetest.Config) datastore.Datastore {
		t.Helper()
		opts := tuples.Options{
			InMemory:   !onDisk,
			GCWindow:   cfg.GCWindow,
			GCInterval: cfg.GCInterval,
			MaxBatch:   cfg.MaxBatch,
			// Small memtables open faster, and on disk they make the
			// larger tests flush tables, as a large store does.
			MemTableSize: 8 << 20,
		}
		dir := ""
		if onDisk {
			dir = t.TempDir()
		}
		s, err := tuples.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
}
