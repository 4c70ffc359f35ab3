package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

func testWrite(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"Ops", testWriteOps},
		{"AllOrNothing", testWriteAllOrNothing},
		{"Preconditions", testPreconditions},
		{"BatchLimit", testBatchLimit},
		{"NoSchema", testNoSchema},
	})
}

// testWriteOps checks CREATE, TOUCH and DELETE one at a time.
func testWriteOps(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	r1 := write(t, ds, tuples.Create, "document:a#viewer@user:ana")
	if _, err := ds.Write(ctx, updates(t, tuples.Create, "document:a#viewer@user:ana")); !errors.Is(err, tuples.ErrAlreadyExists) {
		t.Errorf("CREATE of an existing relationship: %v, want ErrAlreadyExists", err)
	}
	// CREATE compares relationships without their caveat or expiration.
	if _, err := ds.Write(ctx, updates(t, tuples.Create, `document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`)); !errors.Is(err, tuples.ErrAlreadyExists) {
		t.Errorf("CREATE of an existing relationship with a caveat: %v, want ErrAlreadyExists", err)
	}
	r2 := write(t, ds, tuples.Touch, `document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`)
	if r2 <= r1 {
		t.Errorf("revision %d after %d", r2, r1)
	}
	if got, want := all(t, ds, 0), []string{`document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("TOUCH did not replace the caveat: %q, want %q", got, want)
	}
	write(t, ds, tuples.Touch, "document:a#viewer@user:ana") // and drops it again
	if got, want := all(t, ds, 0), []string{"document:a#viewer@user:ana"}; !reflect.DeepEqual(got, want) {
		t.Errorf("TOUCH did not drop the caveat: %q, want %q", got, want)
	}
	// Deleting an absent relationship is not an error.
	write(t, ds, tuples.Delete, "document:a#viewer@user:nobody", "document:a#viewer@user:ana")
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("after DELETE: %q", got)
	}
	write(t, ds, tuples.Create, "document:a#viewer@user:ana") // CREATE after DELETE
	if got, want := all(t, ds, 0), []string{"document:a#viewer@user:ana"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CREATE after DELETE: %q, want %q", got, want)
	}
	checkViews(t, ds, 0, mustParseAll(t, "document:a#viewer@user:nobody"))
}

func testWriteAllOrNothing(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#viewer@user:ana")
	h := head(t, ds)
	tests := []struct {
		name    string
		updates []tuples.Update
		want    error
		msg     string
	}{
		{"create of existing", updates(t, tuples.Create, "document:b#viewer@user:bo", "document:a#viewer@user:ana"), tuples.ErrAlreadyExists, "document:a#viewer@user:ana"},
		{"unknown relation", updates(t, tuples.Touch, "document:b#viewer@user:bo", "document:b#editor@user:bo"), tuples.ErrInvalidRelationship, "relation `editor` not found"},
		{"permission", updates(t, tuples.Touch, "document:b#view@user:bo"), tuples.ErrInvalidRelationship, "permission"},
		{"subject type not allowed", updates(t, tuples.Touch, "document:b#owner@group:eng#member"), tuples.ErrInvalidRelationship, "not allowed"},
		{"wildcard not allowed", updates(t, tuples.Touch, "document:b#owner@user:*"), tuples.ErrInvalidRelationship, "user:*"},
		{"caveat not allowed", updates(t, tuples.Touch, "document:b#owner@user:ana[only_weekdays]"), tuples.ErrInvalidRelationship, "only_weekdays"},
		{"expiration not allowed", updates(t, tuples.Touch, "document:b#owner@user:ana[expiration:2030-01-01T00:00:00Z]"), tuples.ErrInvalidRelationship, "expiration"},
		{"unknown type", updates(t, tuples.Touch, "nothing:b#owner@user:ana"), tuples.ErrInvalidRelationship, "nothing"},
		{"duplicate", updates(t, tuples.Touch, "document:b#viewer@user:bo", "document:b#viewer@user:bo"), tuples.ErrDuplicateUpdate, "document:b#viewer@user:bo"},
		{"duplicate with other traits", updates(t, tuples.Touch, "document:b#viewer@user:bo", `document:b#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`), tuples.ErrDuplicateUpdate, "document:b#viewer@user:bo"},
		{"duplicate of touch and delete", append(updates(t, tuples.Touch, "document:b#viewer@user:bo"), updates(t, tuples.Delete, "document:b#viewer@user:bo")...), tuples.ErrDuplicateUpdate, "document:b#viewer@user:bo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ds.Write(ctx, tt.updates)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if got := head(t, ds); got != h {
				t.Errorf("head moved to %d on a failed write", got)
			}
			if got := all(t, ds, 0); !reflect.DeepEqual(got, []string{"document:a#viewer@user:ana"}) {
				t.Errorf("store holds %q after a failed write", got)
			}
		})
	}
	checkViews(t, ds, 0, mustParseAll(t, "document:b#viewer@user:bo"))
}

// testPreconditions checks that preconditions are checked at the head,
// before the batch, and that a failing one writes nothing.
func testPreconditions(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#owner@user:ana")
	owner := tuples.Filter{ResourceType: "document", ResourceID: "a", Relation: "owner"}
	none := tuples.Filter{ResourceType: "document", ResourceID: "z"}
	tests := []struct {
		name string
		pre  []tuples.Precondition
		ok   bool
	}{
		{"must match, matches", []tuples.Precondition{{MustMatch: true, Filter: owner}}, true},
		{"must not match, matches", []tuples.Precondition{{MustMatch: false, Filter: owner}}, false},
		// none matches document:z, which the batch itself writes: a
		// precondition holds before the batch, not after it.
		{"must match, none", []tuples.Precondition{{MustMatch: true, Filter: none}}, false},
		{"must not match, none", []tuples.Precondition{{MustMatch: false, Filter: none}}, true},
		{"one of two fails", []tuples.Precondition{{MustMatch: true, Filter: owner}, {MustMatch: true, Filter: none}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, h := all(t, ds, 0), head(t, ds)
			us := updates(t, tuples.Touch, "document:z#viewer@user:cy")
			rev, err := ds.Write(ctx, us, tt.pre...)
			if tt.ok {
				if err != nil || rev <= h {
					t.Fatalf("write = %d, %v; want a revision after %d", rev, err, h)
				}
				write(t, ds, tuples.Delete, "document:z#viewer@user:cy")
				return
			}
			if !errors.Is(err, tuples.ErrPreconditionFailed) {
				t.Fatalf("error = %v, want ErrPreconditionFailed", err)
			}
			if got := all(t, ds, 0); !reflect.DeepEqual(got, before) || head(t, ds) != h {
				t.Errorf("the write happened although its precondition failed: %q", got)
			}
		})
	}
}

func testBatchLimit(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{MaxBatch: 2})
	if _, err := ds.Write(ctx, updates(t, tuples.Touch, "document:a#viewer@user:a1", "document:a#viewer@user:a2", "document:a#viewer@user:a3")); !errors.Is(err, tuples.ErrBatchTooLarge) {
		t.Errorf("3 updates with MaxBatch 2: %v, want ErrBatchTooLarge", err)
	}
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("a refused batch wrote %q", got)
	}
	if _, err := ds.Write(ctx, updates(t, tuples.Touch, "document:a#viewer@user:a1", "document:a#viewer@user:a2")); err != nil {
		t.Errorf("2 updates with MaxBatch 2: %v", err)
	}
	// Import is not limited by MaxBatch.
	if res, err := ds.Import(ctx, strings.NewReader("document:b#viewer@user:a1\ndocument:b#viewer@user:a2\ndocument:b#viewer@user:a3\n"), tuples.ImportOptions{}); err != nil || res.Imported != 3 {
		t.Errorf("import of 3 with MaxBatch 2: %d imported, %v", res.Imported, err)
	}
}

// testNoSchema checks a store without a schema: no relationship may be
// written, and the schema reads as absent.
func testNoSchema(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	if _, err := ds.Write(ctx, updates(t, tuples.Touch, "document:a#viewer@user:a1")); !errors.Is(err, tuples.ErrNoSchema) {
		t.Errorf("Write: %v, want ErrNoSchema", err)
	}
	if _, err := ds.Import(ctx, strings.NewReader("document:a#viewer@user:ana\n"), tuples.ImportOptions{}); !errors.Is(err, tuples.ErrNoSchema) {
		t.Errorf("Import: %v, want ErrNoSchema", err)
	}
	if p, _, err := ds.Schema(ctx); p != nil || err != nil {
		t.Errorf("Schema() = %v, %v; want none", p, err)
	}
	if name, src, _, err := ds.SchemaSource(ctx); name != "" || len(src) != 0 || err != nil {
		t.Errorf("SchemaSource() = %q, %q, %v; want none", name, src, err)
	}
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("an empty store lists %q", got)
	}
}
