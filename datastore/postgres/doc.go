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
// A filter with a resource id (or id prefix) but no relation ("everything
// of document:x") is read relation by relation in one statement, the
// relations listed by a loose scan of the forward index (selectMatching),
// as PostgreSQL 15 has no skip scan to find the id under each relation.
// Statements that look up many relationships at once probe the unique
// index one key at a time (LATERAL ... LIMIT 1, or ON CONFLICT), so their
// plans do not depend on statistics, which a table being bulk-loaded lacks.
//
// # Reading an object's relations together
//
// A check reads the relations of an object one at a time (its owner, then
// its viewers, then its parent folders), and each read through a snapshot
// would be a round trip, which costs much more than the few rows it
// returns. So the first read of a relation of an object also reads, in the
// same query, the other relations of that object that the schema's
// permissions read beside it (Options.PrefetchRows rows of each, 64 by
// default, one index probe per relation), and the snapshot answers the
// reads of them that follow from memory, up to the last row read of each.
// They are read at the snapshot's revision and time, so the answers are
// those the reads one at a time give. A relation read along that checks
// seldom ask for after (the engine's group index, or an earlier branch of
// a union, answers first) stops being read along, but for one time in
// 32. A snapshot keeps at most 4,096 rows; see objects.go.
//
// Opening a snapshot checks its revision readable in a query, which also
// reads how long ago the revision was committed by the database's clock.
// A revision stays readable at least until its commit time plus the
// garbage-collection window, so one with more than a minute of the window
// left is taken as readable, without a query, by snapshots opened within
// a second of that check (without a read replica; see readable.go for what
// this assumes: one window for every node, a database clock that does not
// step back by a minute).
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
// # Read replica
//
// Options.ReadReplicaURI names a streaming (physical, hot standby) replica
// of the database. A read at a revision R (a Snapshot at R, and
// ReadRelationships, ForEach and Export at R or continuing a cursor of R)
// first asks the replica, in the one query that checks R readable, for
// its head: a replica that has replayed R has every commit up to R, since
// revisions commit in order, and so answers as the primary would; the
// read is served there whole. A replica that has not replayed R yet (it
// lags, or its replay is paused) leaves the read to the primary, which
// checks R again. A read is never answered from a replica that lacks its
// revision, so a read at the revision of a write (at_least_as_fresh) sees
// the write, from wherever it is served. A read at "the head" (revision
// 0) reads the head from the primary first: a replica, which follows
// asynchronously, serves it only if it has replayed that revision already.
// The check is made as a snapshot or a read opens, and relies on replay
// only going forward; the one exception is a replica that crashes and
// opens again at a point before what it had shown, where a query of a
// snapshot opened before the crash that gets a fresh connection at once
// (without first failing on its broken one) could read older state.
//
// The replica is optional, and its failures are never the reads': a
// replica query that fails for a reason other than the caller's context
// (the replica down, a query cancelled in a conflict with its recovery) is
// made again on the primary, once the primary has checked R readable
// (were R collected there meanwhile, the read fails with
// tuples.ErrRevisionTooOld rather than answer in part), and a snapshot
// whose read failed on the replica reads from the primary from then on. A
// replica that cannot be reached is left alone for five seconds, reads
// going straight to the primary. Open does not need the replica up; it
// refuses one that answers at another schema version than the binary's
// (one found so later, still replaying a migration, is left alone for five
// seconds at a time).
//
// Conversely, reads at revisions the replica has replayed need nothing
// from the primary: with the primary down they are still answered (so is
// a snapshot whose schema version was not cached yet: it is read from the
// replica). Everything else goes to the primary, and fails without it:
// HeadRevision and reads at the head, writes, schema writes and
// SchemaSource, Changes and Watch (the change log is read on the primary,
// and `after` checked readable there: a lagging replica may not have
// replayed the collection that made it too old), imports and garbage
// collection. The replica's oldest readable revision lags the primary's:
// a revision just collected on the primary may still be read on a lagging
// replica until it replays the collection.
//
// A read at a revision the replica lacks costs one more query (the
// replica's check). Reads on the replica are short statements; a replica
// whose replay waits (paused, or behind a conflict) holds the locks of
// what it replayed, so its reads may wait behind a replayed ACCESS
// EXCLUSIVE lock (a migration) as they would on the primary, up to the
// replica's lock_timeout or statement_timeout, after which the primary
// answers them.
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
