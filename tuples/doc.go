// Package tuples holds relationship tuples: the Relationship type with its
// parser and printer, validation against a schema Program, and the store, a
// Badger database in managed mode where every committed batch gets a Revision
// and every read is a consistent Snapshot at one revision.
//
// It is the second stage of reach's pipeline: applications and the CLI write
// relationships here; the engine reads them through Snapshot.
//
// The store keeps a forward index (resource to subjects) and a reverse index
// (subject to resources), written in the same atomic batch (see keys.go for
// the layout), and the schema, versioned with the data. Writes are batches of
// CREATE, TOUCH and DELETE with preconditions (Store.Write), deletions by
// Filter (Store.DeleteWhere) and bulk imports (Store.Import, streaming large
// batches; Store.Export writes the same format back). Reads select by Filter
// a page at a time (Store.ReadRelationships) or walk a Snapshot. Every batch
// also records its changes, so that Store.Watch follows the store in commit
// order. Old revisions stay readable for Options.GCWindow (24 hours by
// default); a background collector then lets Badger drop their versions.
package tuples
