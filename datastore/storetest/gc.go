package storetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/reach-authz/reach/tuples"
)

func testGC(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"OldRevisionsExpire", testGCOldRevisionsExpire},
		{"WindowKeeps", testGCWindowKeeps},
	})
}

// gcWait bounds how long a test waits for a collection that a tiny window
// makes due.
const gcWait = 30 * time.Second

// eventually calls cond every couple of milliseconds until it holds, and
// fails t if it does not within gcWait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), gcWait)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, gcWait)
		case <-tick.C:
		}
	}
}

// testGCOldRevisionsExpire checks, with a window of a millisecond, that
// revisions older than the window become ErrRevisionTooOld for every kind
// of read (a cursor's included), while the head stays readable and
// writable.
func testGCOldRevisionsExpire(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{GCWindow: time.Millisecond, GCInterval: time.Millisecond})
	r1 := write(t, ds, tuples.Touch, "document:a#viewer@user:ana")
	r2 := write(t, ds, tuples.Delete, "document:a#viewer@user:ana")
	r3 := write(t, ds, tuples.Touch, "document:a#viewer@user:bo", "document:a#viewer@user:cy")
	page, err := ds.ReadRelationships(ctx, mustFilter(t, "document:a"), tuples.ReadOptions{Limit: 1})
	if err != nil || page.Cursor == "" || page.Revision != r3 {
		t.Fatalf("first page at %d, cursor %q, %v; want a cursor at %d", page.Revision, page.Cursor, err, r3)
	}
	r4 := write(t, ds, tuples.Touch, "document:a#viewer@user:dee")
	tooOld := func(err error) bool { return errors.Is(err, tuples.ErrRevisionTooOld) }
	eventually(t, "revision r3 becoming too old", func() bool {
		sn, err := ds.Snapshot(ctx, r3)
		if err == nil {
			sn.Close()
			return false
		}
		if !tooOld(err) {
			t.Fatalf("Snapshot(%d): %v, want ErrRevisionTooOld or success", r3, err)
		}
		return true
	})
	for _, rev := range []tuples.Revision{r1, r2, r3} {
		if _, err := ds.Snapshot(ctx, rev); !tooOld(err) {
			t.Errorf("Snapshot(%d): %v, want ErrRevisionTooOld", rev, err)
		}
		if _, err := ds.ForEach(ctx, rev, tuples.Filter{}, func(tuples.Relationship) (bool, error) { return true, nil }); !tooOld(err) {
			t.Errorf("ForEach at %d: %v, want ErrRevisionTooOld", rev, err)
		}
		if _, err := ds.ReadRelationships(ctx, mustFilter(t, "document"), tuples.ReadOptions{Revision: rev}); !tooOld(err) {
			t.Errorf("ReadRelationships at %d: %v, want ErrRevisionTooOld", rev, err)
		}
		if _, _, err := ds.Export(ctx, &bytes.Buffer{}, tuples.ExportOptions{Revision: rev}); !tooOld(err) {
			t.Errorf("Export at %d: %v, want ErrRevisionTooOld", rev, err)
		}
		if _, _, err := ds.Changes(ctx, rev-1, 0); !tooOld(err) {
			t.Errorf("Changes after %d: %v, want ErrRevisionTooOld", rev-1, err)
		}
	}
	if _, err := ds.ReadRelationships(ctx, mustFilter(t, "document:a"), tuples.ReadOptions{Cursor: page.Cursor}); !tooOld(err) {
		t.Errorf("a cursor at %d: %v, want ErrRevisionTooOld", r3, err)
	}
	// The head stays readable, and the store writable.
	if h := head(t, ds); h != r4 {
		t.Fatalf("head %d, want %d", h, r4)
	}
	want := []string{"document:a#viewer@user:bo", "document:a#viewer@user:cy", "document:a#viewer@user:dee"}
	if got := all(t, ds, r4); !reflect.DeepEqual(got, want) {
		t.Errorf("at the head: %q, want %q", got, want)
	}
	r5 := write(t, ds, tuples.Delete, "document:a#viewer@user:cy")
	if got := all(t, ds, r5); !reflect.DeepEqual(got, []string{want[0], want[2]}) {
		t.Errorf("after a write: %q", got)
	}
	checkViews(t, ds, r5, mustParseAll(t, "document:a#viewer@user:ana", "document:a#viewer@user:cy"))
}

// testGCWindowKeeps checks, with an hour's window and a collector running
// every millisecond, that every revision written stays readable with its
// own state.
func testGCWindowKeeps(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{GCWindow: time.Hour, GCInterval: time.Millisecond})
	start := head(t, ds)
	r1 := write(t, ds, tuples.Touch, "document:a#viewer@user:ana")
	r2 := write(t, ds, tuples.Delete, "document:a#viewer@user:ana")
	r3 := write(t, ds, tuples.Touch, "document:a#viewer@user:bo")
	// Give the collector time to run a few dozen times.
	time.Sleep(50 * time.Millisecond)
	for _, c := range []struct {
		rev  tuples.Revision
		want []string
	}{
		{start, nil},
		{r1, []string{"document:a#viewer@user:ana"}},
		{r2, nil},
		{r3, []string{"document:a#viewer@user:bo"}},
	} {
		if got := all(t, ds, c.rev); !reflect.DeepEqual(got, c.want) {
			t.Errorf("at %d: %q, want %q", c.rev, got, c.want)
		}
	}
	if sets, _, err := ds.Changes(ctx, start, 0); err != nil || len(sets) != 3 {
		t.Errorf("Changes after %d: %d sets, %v; want 3", start, len(sets), err)
	}
}
