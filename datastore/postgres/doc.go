// Package postgres is reach's PostgreSQL datastore: a datastore.Datastore
// that many stateless `reach serve` nodes share, each opening the same
// database (Open). It behaves as the embedded Badger store (package tuples)
// does, with the same errors, validation and results, and passes the same
// contract suite (datastore/storetest).
//
// # Revisions
//
// One row, reach_head, holds the head revision. Every write transaction
// (a Write, a batch of DeleteWhere or Import, a schema write) begins with
//
//	UPDATE reach_head SET rev = rev + 1 RETURNING rev
//
// whose row lock it keeps until it commits: writers of every node are
// serialised by it, each takes the next revision, and a revision commits
// before the next one can be taken, so revisions become visible in commit
// order. HeadRevision reads the committed row, and every revision up to it
// is committed and visible to any later read, on every node. Checks and
// preconditions run inside the transaction after the lock is taken, so they
// see the head. A transaction that fails rolls back, and its revision is
// taken by the next writer: revisions stay consecutive.
//
// # Tables
//
//	reach_relationships  every version of every relationship:
//	    resource_type, resource_id, relation, subject_type, subject_id,
//	    subject_relation (text, COLLATE "C": bytewise order),
//	    caveat_name ('' for none), caveat_context (json, NULL for none),
//	    expiration (timestamptz to the microsecond, rounded down) and
//	    expiration_ns (the nanoseconds below, so times read back exact),
//	    created_rev, deleted_rev (9223372036854775807 while live).
//	reach_schemas        (rev, filename, source): the schema in force at R
//	    is the newest row with rev <= R.
//	reach_changes        (rev, changes): the change set of each revision that
//	    changed relationships, written in its transaction (see rows.go).
//	reach_revisions      (rev, committed_at): commit times, for the GC window.
//	reach_head, reach_gc one row each: the head and the oldest readable
//	    revision.
//	reach_migrations     the schema versions applied (Migrate).
//
// A relationship is visible at revision R when created_rev <= R <
// deleted_rev (and its expiration is after the reading snapshot's time):
// writes never change a version, they end it (deleted_rev = the writing
// revision) and insert a new one, so a Snapshot at R is one indexed query
// per read, whatever was written since. A TOUCH ends the live version and
// inserts the new one; a DELETE ends it; a CREATE fails with
// tuples.ErrAlreadyExists when a live, unexpired version exists.
//
// Indexes: forward, unique, (resource_type, relation, resource_id,
// subject_type, subject_relation, subject_id, deleted_rev) for the walk from
// a resource to its subjects and for filters by resource; it also guards
// one live version per relationship, since two versions of one
// relationship never end at the same revision and live ones all have
// deleted_rev = max. Reverse (subject_type, subject_relation, resource_type,
// relation, subject_id, resource_id) for the walk from a subject to its
// resources, filters by subject and the schema's orphan checks. A partial
// index of ended versions serves the garbage collector. The orders are the
// Badger driver's key orders, so results come in the same kind of order:
// Subjects by (subject type, subject relation, subject id), Resources by
// resource id, reads by filter in the order of the index the filter uses.
// Statements that look up many relationships at once probe the unique
// index one key at a time (LATERAL ... LIMIT 1, or ON CONFLICT), so their
// plans do not depend on statistics, which a table being bulk-loaded lacks.
//
// # Schema
//
// Schema versions are rows, versioned with the data. Compiled programs are
// cached per schema revision, so every snapshot of one version returns the
// same *schema.Program (the engine caches its models by that pointer).
// A node learns the schema writes of other nodes when its reads reach
// their revisions: opening a snapshot checks the revision and lists the
// schema revisions up to it in one query.
//
// # Watch, import, garbage collection, failures
//
// Changes reads reach_changes; WaitForRevision polls the head and wakes on
// NOTIFY from any node's commits. Import stages each batch with COPY and
// applies it set-based in one transaction (import.go). A background loop
// collects what no readable revision can see, in bounded statements
// (gc.go). Errors of a lost or refused connection wrap
// datastore.ErrUnavailable; transactions make every write all or nothing,
// and the pool reconnects by itself when the server is back.
//
// The database schema is versioned: Migrate (`reach datastore migrate`)
// applies the embedded migrations, and Open refuses a database at another
// version than the binary's.
package postgres
