// Package datastore is the contract between reach and the place its
// relationships live: everything the engine, the server and the CLI ask of a
// store, as interfaces only. No driver is imported here.
//
// Two drivers implement it, side by side:
//
//   - datastore/badgerstore: the embedded default, a Badger directory owned by
//     one process (the tuples and schema of one machine);
//   - datastore/postgres: PostgreSQL, shared by many stateless `reach serve`
//     nodes.
//
// Only cmd/reach chooses a driver (datastore/open.go names them); every other
// package sees a Datastore. The storage-free types a Datastore speaks
// (Relationship, Filter, Update, Precondition, Revision, the import and read
// options, the errors) live in package tuples, so that a type needs no
// driver. datastore/storetest is the contract suite that every driver's tests
// run.
//
// # What a Revision promises
//
// Every committed write (a batch of updates, a delete by filter, a schema
// write, an import batch) gets a Revision, larger than every revision
// committed before it. Revisions become visible in commit order: once
// HeadRevision returns R, every revision up to R is committed and readable,
// on every node of a shared store, so at_least_as_fresh and fully_consistent
// reads are exact. A Snapshot at R sees exactly the writes of revisions <= R
// (and the schema in force at R) for as long as R is inside the
// garbage-collection window; older revisions fail with
// tuples.ErrRevisionTooOld and future ones with tuples.ErrRevisionInFuture.
// Two reads at the same revision always agree, which is what makes the
// engine's check cache, keyed by revision, correct on every node.
package datastore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Reader is what the engine walks: a head revision and snapshots at a
// revision. Snapshot's ctx bounds every read made through the snapshot.
type Reader interface {
	HeadRevision(ctx context.Context) (tuples.Revision, error)
	Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error)
}

// Writer changes relationships. Every write is all or nothing.
type Writer interface {
	// Write applies updates as one batch at the next revision after checking
	// each against the schema in force and every precondition at the head.
	// At most MaxBatch updates; an empty write returns the head.
	Write(ctx context.Context, updates []tuples.Update, preconditions ...tuples.Precondition) (tuples.Revision, error)
	// DeleteWhere deletes the live relationships matching f (at most limit
	// when limit > 0), after checking the preconditions.
	DeleteWhere(ctx context.Context, f tuples.Filter, limit int, preconditions ...tuples.Precondition) (tuples.DeleteResult, error)
	// Import bulk-loads relationships (as TOUCH) in large atomic batches.
	Import(ctx context.Context, r io.Reader, opts tuples.ImportOptions) (tuples.ImportResult, error)
	// MaxBatch is the most updates one Write accepts.
	MaxBatch() int
}

// RelationshipReader reads relationships by filter.
type RelationshipReader interface {
	// ReadRelationships returns a page of the live relationships matching
	// f at one revision; its cursor continues at the same revision.
	ReadRelationships(ctx context.Context, f tuples.Filter, opts tuples.ReadOptions) (tuples.ReadResult, error)
	// ForEach calls fn for every live relationship matching f at rev (0:
	// the head) and returns the revision read.
	ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error)
	// Export writes every live relationship, one a line, in the form Import
	// reads, and returns the revision read and the count.
	Export(ctx context.Context, w io.Writer, opts tuples.ExportOptions) (tuples.Revision, int64, error)
}

// SchemaStore keeps the schema, versioned with the data.
type SchemaStore interface {
	// WriteSchema replaces the schema at a new revision, unless it does not
	// compile or would orphan stored relationships (then the old one stays).
	WriteSchema(ctx context.Context, filename string, src []byte) (tuples.Revision, []schema.Diagnostic, error)
	// Schema is the compiled schema at the head (nil if none).
	Schema(ctx context.Context) (*schema.Program, tuples.Revision, error)
	// SchemaSource is the source text of the schema at the head.
	SchemaSource(ctx context.Context) (filename string, src []byte, rev tuples.Revision, err error)
}

// ChangeFeed follows the store's changes in commit order.
type ChangeFeed interface {
	// Changes returns the change sets of the revisions after `after`, in
	// commit order, at most limit of them (0: all), and the revision read up
	// to.
	Changes(ctx context.Context, after tuples.Revision, limit int) ([]tuples.ChangeSet, tuples.Revision, error)
	// WaitForRevision blocks until the head is at least rev, or ctx ends.
	WaitForRevision(ctx context.Context, rev tuples.Revision) error
}

// Datastore is the whole contract: what `reach serve` and the CLI need.
type Datastore interface {
	Reader
	Writer
	RelationshipReader
	SchemaStore
	ChangeFeed
	// GCWindow is how long old revisions stay readable.
	GCWindow() time.Duration
	// Close releases the store.
	Close() error
}

// ErrUnavailable is wrapped by the errors of a shared store that could not
// be reached (a lost or refused connection, a server shutting down). A
// write that fails with it was not applied in part: it either committed
// whole or not at all (when the connection was lost during the commit
// itself, the caller cannot know which; reading the head tells).
var ErrUnavailable = errors.New("datastore unavailable")
