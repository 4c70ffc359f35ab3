package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Migrations are the SQL files in migrations/, named NNNN_what.sql and
// applied in order of NNNN, each in its own transaction together with the
// row of reach_migrations that records it. The database's schema version is
// the highest version recorded there (0 before the first migration).

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations in order; their versions must
// be 1, 2, 3, ...
var migrations = func() []migration {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	var ms []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			panic(fmt.Sprintf("migration %s: no version number", n))
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			panic(err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			panic(fmt.Sprintf("migration %s: version %d, want %d", m.name, m.version, i+1))
		}
	}
	return ms
}()

// SchemaVersion is the database schema version this binary reads and
// writes: Open refuses a database at any other.
var SchemaVersion = len(migrations)

// ErrSchemaVersion is wrapped by Open's error when the database's schema
// version is not SchemaVersion.
var ErrSchemaVersion = errors.New("database schema version does not match this binary")

// migrateLock is the advisory lock key that serialises migrations ("reach"
// in ASCII).
const migrateLock = 0x7265616368

// Migrate brings the database at uri to SchemaVersion, applying the
// migrations it lacks, each in a transaction, under an advisory lock so
// that nodes migrating at once apply each migration once. It reports the
// versions before and after; running it again changes nothing. A database
// newer than this binary is refused (Migrate never goes back).
func Migrate(ctx context.Context, uri string) (from, to int, err error) {
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", classify(err))
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", classify(err))
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrateLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS reach_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", classify(err))
	}
	from, err = schemaVersion(ctx, conn)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	if from > SchemaVersion {
		return from, from, fmt.Errorf("migrate: the database is at schema version %d, newer than this binary's %d: %w (upgrade reach)", from, SchemaVersion, ErrSchemaVersion)
	}
	to = from
	for _, m := range migrations[from:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO reach_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return from, to, fmt.Errorf("migrate: %s: %w", m.name, classify(err))
		}
		to = m.version
	}
	return from, to, nil
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaVersion reads the database's schema version (0 when it was never
// migrated).
func schemaVersion(ctx context.Context, q queryRower) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM reach_migrations`).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, classify(err)
	}
	return v, nil
}

// checkSchemaVersion refuses a database whose schema version is not this
// binary's.
func checkSchemaVersion(ctx context.Context, q queryRower) error {
	v, err := schemaVersion(ctx, q)
	if err != nil {
		return err
	}
	switch {
	case v < SchemaVersion:
		return fmt.Errorf("%w: the database is at schema version %d and this binary needs %d; run `reach datastore migrate` first", ErrSchemaVersion, v, SchemaVersion)
	case v > SchemaVersion:
		return fmt.Errorf("%w: the database is at schema version %d, newer than this binary's %d (migrated by a newer reach; `reach datastore migrate` cannot go back): upgrade this binary", ErrSchemaVersion, v, SchemaVersion)
	}
	return nil
}
