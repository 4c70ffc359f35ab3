// Package storetest is the contract suite of datastore.Datastore: the
// behaviour every driver must show, as tests that use only the Datastore
// interface and the storage-free types of package tuples. It is what makes
// two drivers interchangeable: a driver is done when its test passes Run.
//
// A driver calls Run from one test of its own, with a Factory that opens a
// fresh store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, cfg storetest.Config) datastore.Datastore {
//			s, err := mydriver.Open(..., mydriver.Options{GCWindow: cfg.GCWindow, ...})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Run runs one subtest per area of the contract (Config, Revisions, Write,
// Snapshot, Read, DeleteWhere, Expiration, Caveats, Schema, Watch, Import,
// GC, Indexes, Concurrent, Close), each with subtests of its own, so that
// `go test -run 'TestContract/Watch'` runs one area and
// `go test -run 'TestContract/Write/Preconditions'` one test. Every test
// opens its own stores; none depends on another's state.
//
// What the suite pins down, beyond the interface's doc:
//
//   - Revisions increase with every committed write (not necessarily by 1),
//     and a snapshot at any revision inside the GC window reads exactly the
//     state of that revision: through Snapshot, ForEach, ReadRelationships
//     and Export alike. Revisions beyond the head fail with
//     tuples.ErrRevisionInFuture, those collected with
//     tuples.ErrRevisionTooOld.
//   - The three views of one revision agree: the relationships ForEach
//     lists, the forward index (Snapshot.Get and Snapshot.Subjects) and the
//     reverse index (Snapshot.Resources), after every kind of write (Write,
//     DeleteWhere, Import), and also for relationships that were deleted:
//     no index may keep an entry the others dropped.
//   - Errors are tuples' errors, tested with errors.Is: ErrAlreadyExists,
//     ErrPreconditionFailed, ErrBatchTooLarge, ErrNoSchema,
//     ErrDuplicateUpdate, ErrInvalidRelationship, ErrOrphans, ErrBadCursor,
//     ErrClosed; import faults are *tuples.LineError values whose message
//     starts with FILE:N:.
//   - The change feed (Changes, WaitForRevision) reports every revision
//     that changed relationships once, in commit order, each batch's
//     changes in the order written, with a CREATE reported as a TOUCH;
//     replaying it rebuilds the store.
//
// The suite is sized for CI on two cores: tests that write tens of
// thousands of relationships are skipped under -short. It waits with
// contexts that have deadlines rather than sleeps, except where a driver's
// background collector must be given time to run.
package storetest

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// Config is what a test varies in the store it asks a Factory for. A zero
// field means the driver's default.
type Config struct {
	// GCWindow is how long old revisions stay readable (Datastore.GCWindow
	// must report it). The GC tests ask for a few milliseconds.
	GCWindow time.Duration
	// GCInterval is how often the driver's garbage collector runs, where it
	// has one running in the background; the GC tests ask for a few
	// milliseconds, so that a collection follows the window promptly. A
	// driver that collects on every read may ignore it.
	GCInterval time.Duration
	// MaxBatch is the most updates one Write accepts (Datastore.MaxBatch
	// must report it).
	MaxBatch int
}

// Factory opens a fresh, empty store for one test: no schema, no
// relationships, and nothing shared with a store opened by another call (a
// shared database server gets a new database or schema each time). It
// registers the store's Close with t.Cleanup; Close must then tolerate
// having been called already by the test. It fails t (t.Fatal) when it
// cannot open the store.
type Factory func(t *testing.T, cfg Config) datastore.Datastore

// Run runs the whole contract suite against the stores f opens, as
// subtests of t.
func Run(t *testing.T, f Factory) {
	for _, area := range areas {
		t.Run(area.name, func(t *testing.T) { area.run(t, f) })
	}
}

// areas are the top-level subtests of Run, one per area of the contract.
var areas = []struct {
	name string
	run  func(*testing.T, Factory)
}{
	{"Config", testConfig},
	{"Revisions", testRevisions},
	{"Write", testWrite},
	{"Snapshot", testSnapshot},
	{"Read", testRead},
	{"DeleteWhere", testDeleteWhere},
	{"Expiration", testExpiration},
	{"Caveats", testCaveats},
	{"Schema", testSchema},
	{"Watch", testWatch},
	{"Import", testImport},
	{"GC", testGC},
	{"Indexes", testIndexes},
	{"Concurrent", testConcurrent},
	{"Close", testClose},
}

// subtests runs each named test as a subtest of t.
func subtests(t *testing.T, f Factory, tests []subtest) {
	for _, st := range tests {
		t.Run(st.name, func(t *testing.T) { st.run(t, f) })
	}
}

type subtest struct {
	name string
	run  func(*testing.T, Factory)
}

// testTimeout bounds every test's context: a store that hangs fails the
// test instead of the whole run.
const testTimeout = 2 * time.Minute

// testContext is a context that ends when the test does or after
// testTimeout.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testSchemaSrc is the schema most tests write first.
const testSchemaSrc = `
use expiration

caveat only_weekdays(tz string) {
  tz == "UTC"
}

definition user {}

definition group {
  relation member: user | group#member
}

definition document {
  relation owner: user
  relation viewer: user | user:* | group#member | user with only_weekdays | user with expiration
  relation parent: folder
  permission view = viewer + owner
}

definition folder {
  relation viewer: user
}
`

// open opens an empty store from f.
func open(t *testing.T, f Factory, cfg Config) datastore.Datastore {
	t.Helper()
	ds := f(t, cfg)
	if ds == nil {
		t.Fatal("the factory returned no store")
	}
	return ds
}

// newStore opens a store from f and writes testSchemaSrc.
func newStore(t *testing.T, f Factory, cfg Config) datastore.Datastore {
	t.Helper()
	ds := open(t, f, cfg)
	if _, _, err := ds.WriteSchema(testContext(t), "test.zed", []byte(testSchemaSrc)); err != nil {
		t.Fatal(err)
	}
	return ds
}

// newStoreWith opens a store from f, writes testSchemaSrc and rels (as
// TOUCH, in one batch).
func newStoreWith(t *testing.T, f Factory, cfg Config, rels ...string) datastore.Datastore {
	t.Helper()
	ds := newStore(t, f, cfg)
	if _, err := ds.Write(testContext(t), updates(t, tuples.Touch, rels...)); err != nil {
		t.Fatal(err)
	}
	return ds
}

func mustParse(t testing.TB, s string) tuples.Relationship {
	t.Helper()
	r, err := tuples.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustParseAll(t testing.TB, ss ...string) []tuples.Relationship {
	t.Helper()
	rs := make([]tuples.Relationship, len(ss))
	for i, s := range ss {
		rs[i] = mustParse(t, s)
	}
	return rs
}

func mustFilter(t testing.TB, s string) tuples.Filter {
	t.Helper()
	f, err := tuples.ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// updates makes one update of op per relationship.
func updates(t testing.TB, op tuples.UpdateOp, rels ...string) []tuples.Update {
	t.Helper()
	us := make([]tuples.Update, 0, len(rels))
	for _, s := range rels {
		us = append(us, tuples.Update{Op: op, Relationship: mustParse(t, s)})
	}
	return us
}

// write writes updates of op and returns the revision.
func write(t testing.TB, ds datastore.Datastore, op tuples.UpdateOp, rels ...string) tuples.Revision {
	t.Helper()
	rev, err := ds.Write(testContext(t), updates(t, op, rels...))
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func head(t testing.TB, ds datastore.Datastore) tuples.Revision {
	t.Helper()
	rev, err := ds.HeadRevision(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// all returns every live relationship at rev (0: the head) as sorted
// strings.
func all(t testing.TB, ds datastore.Datastore, rev tuples.Revision) []string {
	t.Helper()
	out, err := listAll(testContext(t), ds, rev, tuples.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listAll returns the live relationships matching f at rev as sorted
// strings; it is safe to call from any goroutine.
func listAll(ctx context.Context, ds datastore.Datastore, rev tuples.Revision, f tuples.Filter) ([]string, error) {
	var out []string
	_, err := ds.ForEach(ctx, rev, f, func(r tuples.Relationship) (bool, error) {
		out = append(out, r.String())
		return true, nil
	})
	sort.Strings(out)
	return out, err
}

// snapshot opens a snapshot at rev, closed when the test ends.
func snapshot(t testing.TB, ds datastore.Datastore, rev tuples.Revision) tuples.Snapshot {
	t.Helper()
	sn, err := ds.Snapshot(testContext(t), rev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sn.Close)
	return sn
}

// strs prints relationships, sorted.
func strs(rs []tuples.Relationship) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	sort.Strings(out)
	return out
}

// sorted returns a sorted copy of ss (nil for none, so that it compares
// with reflect.DeepEqual to what all returns).
func sorted(ss ...string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}
