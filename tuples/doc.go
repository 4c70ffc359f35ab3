// Package tuples holds relationship tuples: the Relationship type with its
// parser and printer, validation against a schema Program, and the store, a
// Badger database in managed mode where every committed batch gets a Revision
// and every read is a consistent Snapshot at one revision.
//
// It is the second stage of reach's pipeline: applications and the CLI write
// relationships here; the engine reads them through Snapshot.
package tuples
