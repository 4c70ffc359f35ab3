// Package testdatastore gives tests a fresh, empty datastore of the kind
// the environment asks for, so that the engine's reference and conformance
// tests run unchanged on every driver:
//
//	go test ./engine/...                                   # Badger, in memory
//	REACH_TEST_DATASTORE=postgres go test ./engine/...     # PostgreSQL
//
// PostgreSQL comes from internal/pgtest (a throwaway cluster per test
// binary, a fresh database per store).
package testdatastore

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// Env is the environment variable that picks the driver: "badger" (the
// default) or "postgres".
const Env = "REACH_TEST_DATASTORE"

// Options are what a test may vary; the zero value gives each driver's
// defaults.
type Options struct {
	GCWindow   time.Duration
	GCInterval time.Duration
	MaxBatch   int
}

// Kind is the driver the environment asks for.
func Kind() string {
	if k := os.Getenv(Env); k != "" {
		return k
	}
	return "badger"
}

// openers are the drivers by name; postgres.go adds PostgreSQL.
var openers = map[string]func(t testing.TB, o Options) datastore.Datastore{
	"badger": openBadger,
}

// Open returns a fresh, empty store of Kind(), closed when t ends.
func Open(t testing.TB, o Options) datastore.Datastore {
	t.Helper()
	open, ok := openers[Kind()]
	if !ok {
		t.Fatalf("%s=%q: no such datastore (want badger or postgres)", Env, Kind())
	}
	return open(t, o)
}

func openBadger(t testing.TB, o Options) datastore.Datastore {
	t.Helper()
	// A small memtable: opening an in-memory store allocates and clears one.
	st, err := tuples.Open("", tuples.Options{InMemory: true, MemTableSize: 8 << 20,
		GCWindow: o.GCWindow, GCInterval: o.GCInterval, MaxBatch: o.MaxBatch})
	if err != nil {
		t.Fatalf("open an in-memory store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", fmt.Errorf("badger: %w", err))
		}
	})
	return st
}
