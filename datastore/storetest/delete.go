package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

func testDeleteWhere(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"ByFilter", testDeleteByFilter},
		{"Preconditions", testDeletePreconditions},
		{"Expired", testDeleteExpired},
		{"Large", testDeleteLarge},
	})
}

func testDeleteByFilter(t *testing.T, f Factory) {
	tests := []struct {
		filter   string
		limit    int
		deleted  int
		complete bool
	}{
		{"document:q3", 0, 3, true},
		{"document:q*#viewer", 0, 5, true},
		{"document:q*#viewer", 2, 2, false},
		{"document:q*#viewer", 5, 5, true},
		{"document#viewer@user:ana", 0, 2, true},
		{"document:r1#viewer@user:*", 0, 1, true},
		{"@user:cy", 0, 2, true},
		{"@user:ana", 3, 3, false},
		{"@group#member", 1, 1, false},
		{"@group#member", 0, 2, true},
		{"group:eng#member@group:ops#member", 0, 1, true},
		{"nosuchtype", 0, 0, true},
		{"folder:f2", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s limit %d", tt.filter, tt.limit), func(t *testing.T) {
			ctx := testContext(t)
			ds := newFilterStore(t, f)
			h := head(t, ds)
			before := all(t, ds, 0)
			flt := mustFilter(t, tt.filter)
			res, err := ds.DeleteWhere(ctx, flt, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Deleted != tt.deleted || res.Complete != tt.complete {
				t.Errorf("deleted %d (complete %v), want %d (%v)", res.Deleted, res.Complete, tt.deleted, tt.complete)
			}
			now := head(t, ds)
			switch {
			case tt.deleted == 0 && (res.Revision != h || now != h):
				t.Errorf("nothing deleted, yet at revision %d (head %d), want the old head %d", res.Revision, now, h)
			case tt.deleted > 0 && (res.Revision <= h || res.Revision != now):
				t.Errorf("deleted at revision %d (head %d), want the head, after %d", res.Revision, now, h)
			}
			after := all(t, ds, 0)
			if len(before)-len(after) != tt.deleted {
				t.Errorf("%d relationships before, %d after", len(before), len(after))
			}
			for _, line := range after {
				if r := mustParse(t, line); flt.Matches(r) && tt.complete {
					t.Errorf("%s still there", r)
				}
			}
			for _, line := range before {
				if r := mustParse(t, line); !flt.Matches(r) && !contains(after, line) {
					t.Errorf("%s deleted, but it does not match", r)
				}
			}
			// The old revision still has them all.
			if got := all(t, ds, h); !reflect.DeepEqual(got, before) {
				t.Errorf("revision %d changed: %q", h, got)
			}
			// Both indexes lost what was deleted.
			checkViews(t, ds, 0, mustParseAll(t, filterData...))
			checkViews(t, ds, h, nil)
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func testDeletePreconditions(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newFilterStore(t, f)
	h := head(t, ds)
	if _, err := ds.DeleteWhere(ctx, tuples.Filter{}, 0); err == nil {
		t.Error("an empty filter deleted everything")
	}
	q1 := mustFilter(t, "document:q1")
	never := mustFilter(t, "document:q1#owner")
	if _, err := ds.DeleteWhere(ctx, q1, 0, tuples.Precondition{MustMatch: true, Filter: never}); !errors.Is(err, tuples.ErrPreconditionFailed) {
		t.Errorf("must match, none: error %v, want ErrPreconditionFailed", err)
	}
	if _, err := ds.DeleteWhere(ctx, q1, 0, tuples.Precondition{MustMatch: false, Filter: q1}); !errors.Is(err, tuples.ErrPreconditionFailed) {
		t.Errorf("must not match, matches: error %v, want ErrPreconditionFailed", err)
	}
	if got := all(t, ds, 0); len(got) != len(filterData) || head(t, ds) != h {
		t.Errorf("deleted although a precondition failed: %q", got)
	}
	res, err := ds.DeleteWhere(ctx, q1, 0, tuples.Precondition{MustMatch: true, Filter: q1}, tuples.Precondition{MustMatch: false, Filter: never})
	if err != nil || res.Deleted != 1 {
		t.Errorf("preconditions that hold: %d deleted, %v", res.Deleted, err)
	}
}

// testDeleteExpired checks that DeleteWhere removes expired relationships
// too (they are absent to reads, so the count is not checked), and that
// none comes back.
func testDeleteExpired(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#viewer@user:ana[expiration:2000-01-01T00:00:00Z]", "document:a#viewer@user:bo")
	if _, err := ds.DeleteWhere(ctx, mustFilter(t, "document:a"), 0); err != nil {
		t.Fatal(err)
	}
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("left %q", got)
	}
	write(t, ds, tuples.Touch, "document:a#viewer@user:ana")
	if got, want := all(t, ds, 0), []string{"document:a#viewer@user:ana"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after writing again: %q, want %q", got, want)
	}
	checkViews(t, ds, 0, mustParseAll(t, "document:a#viewer@user:bo"))
}

// testDeleteLarge deletes more than one batch holds: 45,000 relationships
// (the Badger driver deletes 20,000 at most in one), with ids of varied
// length.
func testDeleteLarge(t *testing.T, f Factory) {
	if testing.Short() {
		t.Skip("writes 45,000 relationships")
	}
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	var b strings.Builder
	const n = 45000
	for i := range n {
		fmt.Fprintf(&b, "document:big#viewer@user:u%s%c%d\n", strings.Repeat("x", i%3), 'a'+i%26, i)
	}
	b.WriteString("document:small#viewer@user:ana\n")
	if _, err := ds.Import(ctx, strings.NewReader(b.String()), tuples.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	h := head(t, ds)
	res, err := ds.DeleteWhere(ctx, tuples.Filter{ResourceType: "document", ResourceID: "big"}, 0)
	if err != nil || res.Deleted != n || !res.Complete || res.Revision <= h {
		t.Fatalf("deleted %d (complete %v) at %d, err %v; want %d deleted after %d", res.Deleted, res.Complete, res.Revision, err, n, h)
	}
	if got, want := all(t, ds, 0), []string{"document:small#viewer@user:ana"}; !reflect.DeepEqual(got, want) {
		t.Errorf("left %d relationships, want %q", len(got), want)
	}
	sn := snapshot(t, ds, head(t, ds))
	if got := resources(t, sn, "user", "ua0", "", "document", "viewer"); len(got) != 0 {
		t.Errorf("the reverse index still has %q", got)
	}
	if got := subjects(t, sn, "document", "big", "viewer", "", ""); len(got) != 0 {
		t.Errorf("the forward index still has %d subjects of document:big", len(got))
	}
	if got := len(all(t, ds, h)); got != n+1 {
		t.Errorf("revision %d holds %d, want %d", h, got, n+1)
	}
}
