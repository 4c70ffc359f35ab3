package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
)

// The PostgreSQL datastore: --datastore postgres --datastore-uri URI.

func init() {
	datastoreSubcommands = append(datastoreSubcommands, newDatastoreMigrateCmd)
	drivers["postgres"] = driver{
		describe: func() string { return "the postgres datastore" },
		network:  true,
		open:     openPostgres,
	}
}

func openPostgres(ctx context.Context, p openParams) (datastore.Datastore, error) {
	if p.inMemory {
		return nil, usagef("--in-memory concerns the embedded store: it does not go with --datastore postgres")
	}
	s, err := postgres.Open(ctx, dsOpts.uri, postgresOptions(p))
	if err != nil {
		return nil, fmt.Errorf("opening the postgres datastore: %w", err)
	}
	return s, nil
}

// postgresOptions are the driver's options from the --datastore-* flags.
func postgresOptions(p openParams) postgres.Options {
	o := postgres.Options{
		MaxBatch:        p.maxBatch,
		MaxConns:        int32(dsOpts.maxConns),
		MinConns:        int32(dsOpts.minConns),
		MaxConnLifetime: dsOpts.maxConnLifetime,
		ReadReplicaURI:  dsOpts.readReplicaURI,
		PrefetchRows:    dsOpts.prefetchRows,
	}
	if o.PrefetchRows == 0 {
		o.PrefetchRows = -1 // none read along (the driver's 0 is its default)
	}
	return o
}

// newDatastoreMigrateCmd is `reach datastore migrate`: bring a PostgreSQL
// database to the schema this binary needs. It is safe to run again, and
// from several nodes at once.
func newDatastoreMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the tables of a postgres datastore (idempotent)",
		Long: `migrate brings the database of --datastore-uri to the version this binary
needs. reach serve refuses to start on a database that is behind or ahead.

  reach datastore migrate --datastore postgres --datastore-uri postgres://reach@db/reach`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dsOpts.kind != "postgres" {
				return usagef("migrate concerns a postgres datastore: give --datastore postgres and --datastore-uri (the embedded store needs no migration)")
			}
			from, to, err := postgres.Migrate(cmd.Context(), dsOpts.uri)
			if err != nil {
				return exitWith(exitError3, "reach: migrating the postgres datastore: %v", err)
			}
			if from == to {
				fmt.Fprintf(cmd.OutOrStdout(), "the datastore is at version %d: nothing to do\n", to)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "migrated the datastore from version %d to %d\n", from, to)
			}
			return nil
		},
	}
}
