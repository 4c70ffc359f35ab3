package storetest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

func testRead(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"ByFilter", testReadByFilter},
		{"Pagination", testReadPagination},
		{"BadCursor", testReadBadCursor},
	})
}

// filterData is stored by the Read and DeleteWhere tests.
var filterData = []string{
	"document:q1#viewer@user:ana",
	"document:q2#viewer@user:ana",
	"document:q3#viewer@user:bo",
	"document:q3#viewer@group:eng#member",
	"document:q3#owner@user:ana",
	"document:q30#viewer@user:cy",
	"document:r1#viewer@user:*",
	"folder:f1#viewer@user:ana",
	"group:eng#member@user:cy",
	"group:eng#member@group:ops#member",
}

// filterTests are filters in ParseFilter's form and what they select of
// filterData.
var filterTests = []struct {
	filter string
	want   []string
}{
	{"document", []string{
		"document:q1#viewer@user:ana", "document:q2#viewer@user:ana", "document:q3#owner@user:ana",
		"document:q3#viewer@group:eng#member", "document:q3#viewer@user:bo", "document:q30#viewer@user:cy",
		"document:r1#viewer@user:*",
	}},
	{"document:q3", []string{"document:q3#owner@user:ana", "document:q3#viewer@group:eng#member", "document:q3#viewer@user:bo"}},
	{"document:q3#viewer", []string{"document:q3#viewer@group:eng#member", "document:q3#viewer@user:bo"}},
	{"document:q3*#viewer", []string{"document:q3#viewer@group:eng#member", "document:q3#viewer@user:bo", "document:q30#viewer@user:cy"}},
	{"document:q*", []string{
		"document:q1#viewer@user:ana", "document:q2#viewer@user:ana", "document:q3#owner@user:ana",
		"document:q3#viewer@group:eng#member", "document:q3#viewer@user:bo", "document:q30#viewer@user:cy",
	}},
	{"document:*#owner", []string{"document:q3#owner@user:ana"}},
	{"document#viewer@user", []string{
		"document:q1#viewer@user:ana", "document:q2#viewer@user:ana", "document:q3#viewer@user:bo",
		"document:q30#viewer@user:cy", "document:r1#viewer@user:*",
	}},
	{"document#viewer@user:ana", []string{"document:q1#viewer@user:ana", "document:q2#viewer@user:ana"}},
	{"document:q3#viewer@user:bo", []string{"document:q3#viewer@user:bo"}},
	{"document@user:*", []string{"document:r1#viewer@user:*"}},
	{"document:q3#viewer@group#member", []string{"document:q3#viewer@group:eng#member"}},
	{"document:q3#viewer@group#...", nil},
	{"@user:ana", []string{"document:q1#viewer@user:ana", "document:q2#viewer@user:ana", "document:q3#owner@user:ana", "folder:f1#viewer@user:ana"}},
	{"@group#member", []string{"document:q3#viewer@group:eng#member", "group:eng#member@group:ops#member"}},
	{"@group:ops", []string{"group:eng#member@group:ops#member"}},
	{"@user:cy#...", []string{"document:q30#viewer@user:cy", "group:eng#member@user:cy"}},
	{"group#member@group:ops#member", []string{"group:eng#member@group:ops#member"}},
	{"folder:f2", nil},
	{"nosuchtype", nil},
	{"document#nosuchrel", nil},
	{"@nosuchtype:x", nil},
}

// newFilterStore opens a store holding filterData.
func newFilterStore(t *testing.T, f Factory) datastore.Datastore {
	t.Helper()
	return newStoreWith(t, f, Config{}, filterData...)
}

func testReadByFilter(t *testing.T, f Factory) {
	ds := newFilterStore(t, f)
	for _, tt := range filterTests {
		t.Run(tt.filter, func(t *testing.T) {
			ctx := testContext(t)
			flt := mustFilter(t, tt.filter)
			res, err := ds.ReadRelationships(ctx, flt, tuples.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Relationships {
				if !flt.Matches(r) {
					t.Errorf("%s does not match %s", r, flt)
				}
			}
			if got := strs(res.Relationships); !reflect.DeepEqual(sorted(got...), tt.want) {
				t.Errorf("read %s = %q, want %q", tt.filter, got, tt.want)
			}
			if res.Cursor != "" {
				t.Errorf("cursor %q after reading everything", res.Cursor)
			}
			if res.Revision != head(t, ds) {
				t.Errorf("read at %d, want the head %d", res.Revision, head(t, ds))
			}
			// ForEach and Export select the same.
			got, err := listAll(ctx, ds, 0, flt)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ForEach %s = %q (%v), want %q", tt.filter, got, err, tt.want)
			}
		})
	}
}

// testReadPagination reads with every page size and checks that the pages
// make up one read, all at the revision of the first page, although the
// store changes between pages.
func testReadPagination(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newFilterStore(t, f)
	for _, fs := range []string{"document", "@user:ana", "document:q*#viewer", "document:q*", "document:q3"} {
		flt := mustFilter(t, fs)
		full, err := ds.ReadRelationships(ctx, flt, tuples.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		extra := []string{"document:q0#viewer@user:ana", "document:zz#viewer@user:ana", "document:q3#viewer@user:ana"}
		for _, limit := range []int{1, 2, 3, 7, 8} {
			var got []tuples.Relationship
			opts := tuples.ReadOptions{Limit: limit}
			var rev tuples.Revision
			pages := 0
			for {
				res, err := ds.ReadRelationships(ctx, flt, opts)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(res.Relationships) > limit {
					t.Fatalf("%s, limit %d: page of %d", fs, limit, len(res.Relationships))
				}
				if pages == 1 {
					rev = res.Revision
					// A write between pages is not seen: the cursor keeps
					// the first page's revision.
					write(t, ds, tuples.Touch, extra...)
				} else if res.Revision != rev {
					t.Errorf("%s, limit %d: page %d at revision %d, want %d", fs, limit, pages, res.Revision, rev)
				}
				got = append(got, res.Relationships...)
				if res.Cursor == "" {
					break
				}
				if pages > len(full.Relationships)+1 {
					t.Fatalf("%s, limit %d: %d pages and still a cursor", fs, limit, pages)
				}
				opts.Cursor = res.Cursor
			}
			write(t, ds, tuples.Delete, extra...)
			if !reflect.DeepEqual(strs(got), strs(full.Relationships)) {
				t.Errorf("%s, limit %d: pages gave %v, want %v", fs, limit, got, full.Relationships)
			}
			if !reflect.DeepEqual(got, full.Relationships) {
				t.Errorf("%s, limit %d: pages gave %v, in another order than one read %v", fs, limit, got, full.Relationships)
			}
			// A last page that is full may still carry a cursor (to an
			// empty page); no more pages than that.
			if want := len(full.Relationships)/limit + 1; pages > want {
				t.Errorf("%s, limit %d: %d pages, want at most %d", fs, limit, pages, want)
			}
		}
	}
	// An explicit revision without a cursor reads there.
	h := head(t, ds)
	write(t, ds, tuples.Touch, "document:q9#viewer@user:ana")
	res, err := ds.ReadRelationships(ctx, mustFilter(t, "document:q9"), tuples.ReadOptions{Revision: h})
	if err != nil || len(res.Relationships) != 0 || res.Revision != h {
		t.Errorf("read at %d: %v at %d (%v), want nothing", h, res.Relationships, res.Revision, err)
	}
}

// testReadBadCursor checks that a cursor that is not one, or one of
// another filter, is refused with ErrBadCursor rather than misread.
func testReadBadCursor(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newFilterStore(t, f)
	flt := mustFilter(t, "document")
	for _, c := range []string{"nonsense!", "AQ", "x"} {
		if _, err := ds.ReadRelationships(ctx, flt, tuples.ReadOptions{Cursor: c}); !errors.Is(err, tuples.ErrBadCursor) {
			t.Errorf("cursor %q: error %v, want ErrBadCursor", c, err)
		}
	}
	page, err := ds.ReadRelationships(ctx, flt, tuples.ReadOptions{Limit: 1})
	if err != nil || page.Cursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, page.Cursor)
	}
	// (A cursor may continue a narrower filter of the same kind; these read
	// another index or another type.)
	for _, other := range []string{"@user:ana", "folder"} {
		if _, err := ds.ReadRelationships(ctx, mustFilter(t, other), tuples.ReadOptions{Cursor: page.Cursor}); !errors.Is(err, tuples.ErrBadCursor) {
			t.Errorf("cursor of filter document used with %s: error %v, want ErrBadCursor", other, err)
		}
	}
}
