package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// Datastore selection: every command that opens a store locally (tuple,
// schema, check, lookup, expand, matrix, bench, serve) opens it through
// openDatastore, which picks the driver of --datastore. This file and the
// driver files beside it (datastore_*.go) are the only code that names a
// driver; everything else sees a datastore.Datastore.

// envDatastoreURI is read when --datastore-uri is not given.
const envDatastoreURI = "REACH_DATASTORE_URI"

// datastoreOptions are the flags that choose and tune the store.
type datastoreOptions struct {
	kind string // a key of drivers
	uri  string // connection string of a network store

	readReplicaURI  string
	maxConns        int
	minConns        int
	maxConnLifetime time.Duration
	prefetchRows    int
}

var dsOpts datastoreOptions

// openParams are what a command asks of the store it opens.
type openParams struct {
	// inMemory asks for a throwaway store (reach serve --in-memory).
	inMemory bool
	// maxBatch bounds the updates of one write (0: the default).
	maxBatch int
	// syncWrites makes every commit wait for fsync (embedded store).
	syncWrites bool
	// serving: the store backs a long-running server, whose memory matters
	// more than bulk write speed (smaller Badger memtables).
	serving bool
	// mustExist: a read command; the store is not created (store.go).
	mustExist bool
}

// driver opens one kind of datastore.
type driver struct {
	// describe names where the data is, for messages ("the store in DIR").
	describe func() string
	// network: the store is a server reached through --datastore-uri.
	network bool
	open    func(ctx context.Context, p openParams) (datastore.Datastore, error)
}

// drivers are the datastores reach can open, by --datastore name. The
// embedded Badger store is the default; datastore_postgres.go adds
// "postgres".
var drivers = map[string]driver{
	"badger": {
		describe: func() string { return global.dataDir },
		open:     openBadger,
	},
}

func driverNames() []string {
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// addDatastoreFlags registers the datastore flags on the root command.
func addDatastoreFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&dsOpts.kind, "datastore", "badger", "where the data lives: "+strings.Join(driverNames(), " or ")+" (badger: the embedded store in --data-dir)")
	f.StringVar(&dsOpts.uri, "datastore-uri", "", "connection string of a postgres datastore, e.g. postgres://user:pass@host:5432/reach (env "+envDatastoreURI+")")
	f.StringVar(&dsOpts.readReplicaURI, "datastore-read-replica-uri", "", "optional read replica of a postgres datastore: reads go there when it has replayed the revision asked for, else to the primary")
	f.IntVar(&dsOpts.maxConns, "datastore-conn-pool-max-open", 16, "most open connections to a postgres datastore, per process")
	f.IntVar(&dsOpts.minConns, "datastore-conn-pool-min-open", 0, "connections to a postgres datastore kept open when idle")
	f.DurationVar(&dsOpts.maxConnLifetime, "datastore-conn-max-lifetime", time.Hour, "how long a connection to a postgres datastore is reused before it is replaced")
	f.IntVar(&dsOpts.prefetchRows, "datastore-prefetch-rows", 64, "rows of each of an object's other relations that a postgres datastore reads along with its first read of the object, to answer the reads that follow from memory (0: off, a query for each read)")
}

// checkDatastoreFlags validates the datastore flags of cmd before it runs.
func checkDatastoreFlags(cmd *cobra.Command) error {
	if _, ok := drivers[dsOpts.kind]; !ok {
		return usagef("--datastore must be %s, not %q", strings.Join(driverNames(), " or "), dsOpts.kind)
	}
	if dsOpts.uri == "" {
		dsOpts.uri = os.Getenv(envDatastoreURI)
	}
	if drivers[dsOpts.kind].network && dsOpts.uri == "" {
		return usagef("--datastore %s needs --datastore-uri (or %s)", dsOpts.kind, envDatastoreURI)
	}
	if dsOpts.kind == "badger" {
		if dsOpts.uri != "" && os.Getenv(envDatastoreURI) != dsOpts.uri {
			return usagef("--datastore-uri is for a network datastore: give --datastore postgres, or --data-dir for the embedded store")
		}
		if dsOpts.readReplicaURI != "" {
			return usagef("--datastore-read-replica-uri needs --datastore postgres")
		}
		if cmd.Flags().Changed("datastore-prefetch-rows") {
			return usagef("--datastore-prefetch-rows needs --datastore postgres")
		}
	}
	if dsOpts.maxConns < 1 || dsOpts.minConns < 0 || dsOpts.minConns > dsOpts.maxConns {
		return usagef("connection pool: need 0 <= --datastore-conn-pool-min-open <= --datastore-conn-pool-max-open and at least 1 open connection")
	}
	if dsOpts.maxConnLifetime <= 0 {
		return usagef("--datastore-conn-max-lifetime must be positive")
	}
	if dsOpts.prefetchRows < 0 {
		return usagef("--datastore-prefetch-rows cannot be negative, not %d (0 turns it off)", dsOpts.prefetchRows)
	}
	return nil
}

// openDatastore opens the store of --datastore.
func openDatastore(ctx context.Context, p openParams) (datastore.Datastore, error) {
	d, ok := drivers[dsOpts.kind]
	if !ok {
		return nil, usagef("--datastore must be %s, not %q", strings.Join(driverNames(), " or "), dsOpts.kind)
	}
	return d.open(ctx, p)
}

// datastoreName names where the local store is, for messages.
func datastoreName() string {
	if d, ok := drivers[dsOpts.kind]; ok {
		return d.describe()
	}
	return dsOpts.kind
}

// serveMemTable is the Badger memtable size of reach serve.
const serveMemTable = 32 << 20

// openBadger opens the embedded store in --data-dir.
func openBadger(_ context.Context, p openParams) (datastore.Datastore, error) {
	dir := global.dataDir
	if p.mustExist && !p.inMemory {
		if err := dataDirMustExist(dir); err != nil {
			return nil, err
		}
	}
	if !p.inMemory {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory %s: %w", dir, err)
		}
	}
	opts := tuples.Options{InMemory: p.inMemory, MaxBatch: p.maxBatch, SyncWrites: p.syncWrites}
	if p.serving && !p.inMemory {
		// Badger allocates each memtable's arena on Go's heap: three of
		// 128 MiB (the default, best for imports) made an idle reach serve
		// hold 500 MiB at 1M relationships; 32 MiB ones, 372 MiB.
		opts.MemTableSize = serveMemTable
	}
	s, err := tuples.Open(dir, opts)
	if err != nil {
		if isLockError(err) {
			return nil, fmt.Errorf("the store in %s is in use by another process, probably `reach serve`: "+
				"talk to that server with --endpoint HOST:PORT (and --token KEY), or stop it first", dir)
		}
		return nil, fmt.Errorf("opening the store in %s: %w", dir, err)
	}
	return s, nil
}

// isLockError reports whether err is Badger's refusal to open a directory
// that another process (or another open store) holds.
func isLockError(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) ||
		strings.Contains(err.Error(), "Cannot acquire directory lock")
}
