package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/internal/pgtest"
	. "github.com/reach-authz/reach/tuples"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testSchema = `
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

// migrated returns a fresh, migrated database.
func migrated(t testing.TB) string {
	t.Helper()
	uri := pgtest.NewDatabase(t)
	if _, _, err := postgres.Migrate(context.Background(), uri); err != nil {
		t.Fatal(err)
	}
	return uri
}

// open opens a store on uri, closed when t ends.
func open(t testing.TB, uri string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), uri, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTestStore is a store on a fresh database with testSchema written.
func newTestStore(t testing.TB, opts postgres.Options) *postgres.Store {
	t.Helper()
	s := open(t, migrated(t), opts)
	if _, _, err := s.WriteSchema(context.Background(), "test.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustParse(t testing.TB, s string) Relationship {
	t.Helper()
	r, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func updates(t testing.TB, op UpdateOp, rels ...string) []Update {
	var us []Update
	for _, s := range rels {
		us = append(us, Update{Op: op, Relationship: mustParse(t, s)})
	}
	return us
}

// all returns every live relationship at rev as sorted strings.
func all(t testing.TB, s *postgres.Store, rev Revision) []string {
	t.Helper()
	var out []string
	if _, err := s.ForEach(context.Background(), rev, Filter{}, func(r Relationship) (bool, error) {
		out = append(out, r.String())
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func snapAt(t testing.TB, s *postgres.Store) Snapshot {
	t.Helper()
	head, _ := s.HeadRevision(context.Background())
	sn, err := s.Snapshot(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sn.Close)
	return sn
}

func TestWriteAndSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	rev1, err := s.Write(ctx, updates(t, Create,
		"document:q3#viewer@group:eng#member",
		"document:q3#viewer@user:ana",
		"document:q3#viewer@user:*",
		"group:eng#member@user:bo",
	))
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := s.Write(ctx, updates(t, Delete, "document:q3#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	if rev2 != rev1+1 {
		t.Errorf("revisions %d then %d, want consecutive", rev1, rev2)
	}
	if head, _ := s.HeadRevision(ctx); head != rev2 {
		t.Errorf("head %d, want %d", head, rev2)
	}
	old, err := s.Snapshot(ctx, rev1)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	cur, err := s.Snapshot(ctx, rev2)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if _, ok, err := old.Get("document", "q3", "viewer", "user", "ana", ""); !ok || err != nil {
		t.Errorf("old snapshot lost document:q3#viewer@user:ana (%v)", err)
	}
	if _, ok, _ := cur.Get("document", "q3", "viewer", "user", "ana", ""); ok {
		t.Errorf("new snapshot still has the deleted relationship")
	}
	if _, ok, _ := cur.Get("document", "q3", "viewer", "user", "*", ""); !ok {
		t.Errorf("wildcard not found")
	}
	if _, ok, _ := cur.Get("document", "q3", "viewer", "nosuchtype", "x", ""); ok {
		t.Errorf("found a relationship of an unknown type")
	}
	if cur.Schema() == nil || cur.Schema().Definition("document") == nil {
		t.Errorf("snapshot has no schema")
	}
	if cur.Schema() != old.Schema() {
		t.Errorf("two snapshots of one schema version have different programs")
	}

	var subjects []string
	if err := old.Subjects("document", "q3", "viewer", "", "", func(r Relationship) bool {
		subjects = append(subjects, r.String())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	// Deterministic order: subject type, subject relation, subject id.
	want := []string{"document:q3#viewer@group:eng#member", "document:q3#viewer@user:*", "document:q3#viewer@user:ana"}
	if !reflect.DeepEqual(subjects, want) {
		t.Errorf("Subjects = %v, want %v", subjects, want)
	}
	subjects = nil
	cur.Subjects("document", "q3", "viewer", "group", "member", func(r Relationship) bool {
		subjects = append(subjects, r.String())
		return true
	})
	if !reflect.DeepEqual(subjects, []string{"document:q3#viewer@group:eng#member"}) {
		t.Errorf("Subjects(group#member) = %v", subjects)
	}
	subjects = nil
	cur.Subjects("document", "q3", "viewer", "user", "", func(r Relationship) bool {
		subjects = append(subjects, r.String())
		return true
	})
	if !reflect.DeepEqual(subjects, []string{"document:q3#viewer@user:*"}) {
		t.Errorf("Subjects(user) = %v", subjects)
	}
	var resources []string
	cur.Resources("group", "eng", "member", "document", "viewer", func(r Relationship) bool {
		resources = append(resources, r.String())
		return true
	})
	if !reflect.DeepEqual(resources, []string{"document:q3#viewer@group:eng#member"}) {
		t.Errorf("Resources = %v", resources)
	}
	resources = nil
	cur.Resources("user", "*", "", "document", "viewer", func(r Relationship) bool {
		resources = append(resources, r.String())
		return true
	})
	if !reflect.DeepEqual(resources, []string{"document:q3#viewer@user:*"}) {
		t.Errorf("Resources(user:*) = %v", resources)
	}
	if _, err := s.Snapshot(ctx, rev2+1); !errors.Is(err, ErrRevisionInFuture) {
		t.Errorf("Snapshot(head+1) error = %v, want ErrRevisionInFuture", err)
	}
}

// A snapshot pages through long results and stops when told.
func TestSnapshotManySubjects(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "document:big#viewer@user:u%05d\ngroup:g%05d#member@user:ana\n", i, i)
	}
	if _, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sn := snapAt(t, s)
	var ids []string
	if err := sn.Subjects("document", "big", "viewer", "", "", func(r Relationship) bool {
		ids = append(ids, r.SubjectID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3000 || !sort.StringsAreSorted(ids) {
		t.Errorf("Subjects: %d subjects, sorted %v", len(ids), sort.StringsAreSorted(ids))
	}
	n := 0
	sn.Subjects("document", "big", "viewer", "", "", func(r Relationship) bool {
		n++
		return n < 300
	})
	if n != 300 {
		t.Errorf("Subjects went on after fn returned false: %d calls", n)
	}
	var groups []string
	if err := sn.Resources("user", "ana", "", "group", "member", func(r Relationship) bool {
		// A nested read through the same snapshot.
		if _, _, err := sn.Get("group", r.ResourceID, "member", "user", "ana", ""); err != nil {
			t.Error(err)
		}
		groups = append(groups, r.ResourceID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3000 || !sort.StringsAreSorted(groups) {
		t.Errorf("Resources: %d resources", len(groups))
	}
}

func TestWriteIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	if _, err := s.Write(ctx, updates(t, Create, "document:a#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	head, _ := s.HeadRevision(ctx)
	tests := []struct {
		name    string
		updates []Update
		want    error
		msg     string
	}{
		{"create of existing", updates(t, Create, "document:b#viewer@user:bo", "document:a#viewer@user:ana"), ErrAlreadyExists, "document:a#viewer@user:ana"},
		{"unknown relation", updates(t, Touch, "document:b#viewer@user:bo", "document:b#editor@user:bo"), ErrInvalidRelationship, "relation `editor` not found"},
		{"permission", updates(t, Touch, "document:b#view@user:bo"), ErrInvalidRelationship, "permission"},
		{"subject type not allowed", updates(t, Touch, "document:b#owner@group:eng#member"), ErrInvalidRelationship, "not allowed"},
		{"wildcard not allowed", updates(t, Touch, "document:b#owner@user:*"), ErrInvalidRelationship, "user:*"},
		{"caveat not allowed", updates(t, Touch, "document:b#owner@user:ana[only_weekdays]"), ErrInvalidRelationship, "only_weekdays"},
		{"bad caveat context", updates(t, Touch, `document:b#viewer@user:ana[only_weekdays:{"nope":1}]`), ErrInvalidRelationship, "nope"},
		{"expiration not allowed", updates(t, Touch, "document:b#owner@user:ana[expiration:2030-01-01T00:00:00Z]"), ErrInvalidRelationship, "expiration"},
		{"unknown type", updates(t, Touch, "nothing:b#owner@user:ana"), ErrInvalidRelationship, "nothing"},
		{"duplicate", updates(t, Touch, "document:b#viewer@user:bo", "document:b#viewer@user:bo"), ErrDuplicateUpdate, "document:b#viewer@user:bo"},
		{"duplicate before existing", append(updates(t, Touch, "document:c#viewer@user:bo", "document:c#viewer@user:bo"), updates(t, Create, "document:a#viewer@user:ana")...), ErrDuplicateUpdate, "document:c#viewer@user:bo"},
		{"existing before duplicate", append(updates(t, Create, "document:a#viewer@user:ana"), updates(t, Touch, "document:c#viewer@user:bo", "document:c#viewer@user:bo")...), ErrAlreadyExists, "document:a#viewer@user:ana"},
		{"delete of a permission", updates(t, Delete, "document:a#view@user:ana"), ErrInvalidRelationship, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Write(ctx, tt.updates)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if h, _ := s.HeadRevision(ctx); h != head {
				t.Errorf("head moved to %d on a failed write", h)
			}
			if got := all(t, s, 0); !reflect.DeepEqual(got, []string{"document:a#viewer@user:ana"}) {
				t.Errorf("store holds %v after a failed write", got)
			}
		})
	}
	// A failed write gives its revision back: the next one is head+1.
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo"))
	if err != nil || rev != head+1 {
		t.Errorf("write after failures: revision %d (%v), want %d", rev, err, head+1)
	}
}

func TestTouchDeleteAndChanges(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	start, _ := s.HeadRevision(ctx)
	r1, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", `document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`))
	if err != nil {
		t.Fatal(err)
	}
	// TOUCH replaces the caveat; DELETE of an absent relationship is fine
	// and not reported.
	r2, err := s.Write(ctx, append(updates(t, Touch, "document:a#viewer@user:bo"), updates(t, Delete, "document:a#viewer@user:ana", "document:a#viewer@user:nobody")...))
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, s, r1); !reflect.DeepEqual(got, []string{"document:a#viewer@user:ana", `document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`}) {
		t.Errorf("at %d: %v", r1, got)
	}
	if got := all(t, s, r2); !reflect.DeepEqual(got, []string{"document:a#viewer@user:bo"}) {
		t.Errorf("at %d: %v", r2, got)
	}
	// Deleting only absent relationships still commits a revision, as in
	// the Badger driver, with no change set.
	r3, err := s.Write(ctx, updates(t, Delete, "document:a#viewer@user:nobody"))
	if err != nil || r3 != r2+1 {
		t.Fatalf("delete of absent: %d %v", r3, err)
	}
	sets, upto, err := s.Changes(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cs := range sets {
		for _, c := range cs.Changes {
			got = append(got, fmt.Sprintf("%d %v %s", cs.Revision, c.Op, c.Relationship))
		}
	}
	want := []string{
		fmt.Sprintf("%d TOUCH document:a#viewer@user:ana", r1),
		fmt.Sprintf(`%d TOUCH document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`, r1),
		fmt.Sprintf("%d TOUCH document:a#viewer@user:bo", r2),
		fmt.Sprintf("%d DELETE document:a#viewer@user:ana", r2),
	}
	if !reflect.DeepEqual(got, want) || upto != r3 {
		t.Errorf("Changes = %q up to %d, want %q up to %d", got, upto, want, r3)
	}
	sets, upto, err = s.Changes(ctx, start, 1)
	if err != nil || len(sets) != 1 || sets[0].Revision != r1 || upto != r1 {
		t.Errorf("Changes(limit 1) = %v up to %d, %v", sets, upto, err)
	}
	if _, _, err := s.Changes(ctx, r3+1, 0); !errors.Is(err, ErrRevisionInFuture) {
		t.Errorf("Changes after head+1: %v", err)
	}
}

func TestPreconditions(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#owner@user:ana")); err != nil {
		t.Fatal(err)
	}
	owner := Filter{ResourceType: "document", ResourceID: "a", Relation: "owner"}
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo"), Precondition{MustMatch: true, Filter: owner}); err != nil {
		t.Errorf("must-match precondition that holds: %v", err)
	}
	_, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:cy"), Precondition{MustMatch: false, Filter: owner})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("must-not-match precondition that fails: error %v", err)
	}
	if _, ok, _ := snapAt(t, s).Get("document", "a", "viewer", "user", "cy", ""); ok {
		t.Errorf("write happened although its precondition failed")
	}
	bySubject := Filter{Subject: &SubjectFilter{Type: "user", ID: "bo", Relation: Ellipsis}}
	if _, err := s.Write(ctx, nil, Precondition{MustMatch: true, Filter: bySubject}); err != nil {
		t.Errorf("precondition by subject: %v", err)
	}
	_, err = s.DeleteWhere(ctx, Filter{ResourceType: "document"}, 0, Precondition{MustMatch: true, Filter: Filter{ResourceType: "folder"}})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("DeleteWhere with a failing precondition: %v", err)
	}
	if got := all(t, s, 0); len(got) != 2 {
		t.Errorf("DeleteWhere deleted although its precondition failed: %v", got)
	}
}

func TestCaveatAndExpiration(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if _, err := s.Write(ctx, updates(t, Touch,
		`document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`,
		"document:a#viewer@user:bo[expiration:2999-01-01T00:00:00.25Z]",
		"document:a#viewer@user:cy[expiration:"+past+"]",
		"document:a#viewer@user:dee[expiration:2999-01-01T00:00:00.123456789Z]",
		"document:a#viewer@user:eve[expiration:0000-01-01T00:00:00.000000001Z]",
	)); err != nil {
		t.Fatal(err)
	}
	sn := snapAt(t, s)
	r, ok, err := sn.Get("document", "a", "viewer", "user", "ana", "")
	if !ok || err != nil || r.Caveat == nil || r.Caveat.Name != "only_weekdays" || r.Caveat.Context["tz"] != "UTC" {
		t.Errorf("caveated relationship: %v %v %v", r, ok, err)
	}
	r, ok, _ = sn.Get("document", "a", "viewer", "user", "bo", "")
	if !ok || r.String() != "document:a#viewer@user:bo[expiration:2999-01-01T00:00:00.25Z]" {
		t.Errorf("expiring relationship: %v %v", r, ok)
	}
	// Nanoseconds survive (PostgreSQL keeps microseconds).
	r, ok, _ = sn.Get("document", "a", "viewer", "user", "dee", "")
	if !ok || r.String() != "document:a#viewer@user:dee[expiration:2999-01-01T00:00:00.123456789Z]" || r.Expiration.Location() != time.UTC {
		t.Errorf("expiration to the nanosecond: %v %v", r, ok)
	}
	for _, id := range []string{"cy", "eve"} {
		if _, ok, _ := sn.Get("document", "a", "viewer", "user", id, ""); ok {
			t.Errorf("expired relationship %s is visible", id)
		}
	}
	if got := all(t, s, 0); len(got) != 3 {
		t.Errorf("expired relationships listed: %v", got)
	}
	// CREATE over an expired relationship succeeds, as it is absent.
	if _, err := s.Write(ctx, updates(t, Create, "document:a#viewer@user:cy")); err != nil {
		t.Errorf("create over an expired relationship: %v", err)
	}
	// An expiration a few milliseconds away: visible, then not, in
	// snapshots opened before and after.
	soon := time.Now().Add(300 * time.Millisecond)
	rel := mustParse(t, "document:a#viewer@user:fay")
	rel.Expiration = &soon
	if _, err := s.Write(ctx, []Update{{Op: Touch, Relationship: rel}}); err != nil {
		t.Fatal(err)
	}
	if r, ok, _ := snapAt(t, s).Get("document", "a", "viewer", "user", "fay", ""); !ok || !r.Expiration.Equal(soon) {
		t.Errorf("relationship expiring soon: %v %v", r, ok)
	}
	time.Sleep(time.Until(soon) + 10*time.Millisecond)
	if _, ok, _ := snapAt(t, s).Get("document", "a", "viewer", "user", "fay", ""); ok {
		t.Errorf("relationship visible after its expiration")
	}
}

func TestSchemaOrphans(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@group:eng#member", "document:a#parent@folder:f1", "document:b#viewer@user:*")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, from, to, msg string }{
		{"drop relation", "  relation parent: folder\n", "", "document:a#parent@folder:f1"},
		{"drop subject type", "user | user:* | group#member |", "user | user:* |", "document:a#viewer@group:eng#member"},
		{"drop wildcard", "user | user:* | group#member", "user | group#member", "document:b#viewer@user:*"},
		{"drop definition", "definition folder {\n  relation viewer: user\n}", "", "folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(testSchema, tt.from, tt.to, 1)
			if src == testSchema {
				t.Fatal("test did not change the schema")
			}
			if tt.name == "drop definition" {
				src = strings.Replace(src, "  relation parent: folder\n", "", 1)
			}
			_, _, err := s.WriteSchema(ctx, "new.zed", []byte(src))
			if !errors.Is(err, ErrOrphans) {
				t.Fatalf("error = %v, want ErrOrphans", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not name %q", err, tt.msg)
			}
			_, src2, _, _ := s.SchemaSource(ctx)
			if string(src2) != testSchema {
				t.Errorf("the old schema is no longer in force")
			}
		})
	}
	if _, _, err := s.WriteSchema(ctx, "more.zed", []byte(testSchema+"\ndefinition team {}\n")); err != nil {
		t.Errorf("adding a definition: %v", err)
	}
	if _, err := s.Write(ctx, updates(t, Delete, "document:a#parent@folder:f1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WriteSchema(ctx, "less.zed", []byte(strings.Replace(testSchema, "  relation parent: folder\n", "", 1))); err != nil {
		t.Errorf("dropping an unused relation: %v", err)
	}
	// A schema that does not compile, or whose caveat does not type-check,
	// is refused with its diagnostics.
	if _, diags, err := s.WriteSchema(ctx, "bad.zed", []byte("definition {")); err == nil || len(diags) == 0 {
		t.Errorf("a schema that does not compile: %v %v", diags, err)
	}
	if _, _, err := s.WriteSchema(ctx, "bad.zed", []byte("caveat c(x int) { x == \"a\" }\ndefinition user {}")); err == nil {
		t.Errorf("a caveat that does not type-check was written")
	}
}

// Schema(R) is the schema in force at R.
func TestSchemaVersions(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	r1, _ := s.HeadRevision(ctx)
	r2, _, err := s.WriteSchema(ctx, "v2.zed", []byte(testSchema+"\ndefinition team {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	at := func(rev Revision) Snapshot {
		sn, err := s.Snapshot(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		return sn
	}
	if at(r1).Schema().Definition("team") != nil || at(r2).Schema().Definition("team") == nil {
		t.Errorf("snapshots do not see the schema of their revision")
	}
	if at(r2).Schema() != at(r2).Schema() {
		t.Errorf("one schema version, two programs")
	}
	p, rev, err := s.Schema(ctx)
	if err != nil || rev != r2 || p != at(r2).Schema() {
		t.Errorf("Schema() = %p %d %v, want the snapshot's program at %d", p, rev, err, r2)
	}
	name, src, rev, err := s.SchemaSource(ctx)
	if err != nil || name != "v2.zed" || !strings.Contains(string(src), "team") || rev != r2 {
		t.Errorf("SchemaSource = %s %d %v", name, rev, err)
	}
}

func TestBatchLimit(t *testing.T) {
	s := newTestStore(t, postgres.Options{MaxBatch: 2})
	_, err := s.Write(context.Background(), updates(t, Touch, "document:a#viewer@user:a1", "document:a#viewer@user:a2", "document:a#viewer@user:a3"))
	if !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("error = %v, want ErrBatchTooLarge", err)
	}
	if s.MaxBatch() != 2 {
		t.Errorf("MaxBatch = %d", s.MaxBatch())
	}
}

func TestNoSchema(t *testing.T) {
	s := open(t, migrated(t), postgres.Options{})
	ctx := context.Background()
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:a1")); !errors.Is(err, ErrNoSchema) {
		t.Errorf("error = %v, want ErrNoSchema", err)
	}
	if _, err := s.Import(ctx, strings.NewReader("document:a#viewer@user:a1\n"), ImportOptions{}); !errors.Is(err, ErrNoSchema) {
		t.Errorf("import error = %v, want ErrNoSchema", err)
	}
	if p, rev, err := s.Schema(ctx); p != nil || rev != 0 || err != nil {
		t.Errorf("Schema() = %v %d %v", p, rev, err)
	}
	if h, _ := s.HeadRevision(ctx); h != 0 {
		t.Errorf("head %d after failed writes, want 0", h)
	}
}

func TestDeleteWhere(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "document:d%02d#viewer@user:u%d\n", i, i%5)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	b.WriteString("document:zz#viewer@user:x[expiration:" + past + "]\nfolder:f#viewer@user:u1\n")
	if _, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	head, _ := s.HeadRevision(ctx)
	if _, err := s.DeleteWhere(ctx, Filter{}, 0); err == nil {
		t.Errorf("DeleteWhere with an empty filter deleted")
	}
	// Nothing matches: no new revision.
	res, err := s.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceID: "none"}, 0)
	if err != nil || res.Deleted != 0 || !res.Complete || res.Revision != head {
		t.Errorf("delete of nothing: %+v %v (head %d)", res, err, head)
	}
	res, err = s.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceIDPrefix: "d1"}, 4)
	if err != nil || res.Deleted != 4 || res.Complete || res.Revision != head+1 {
		t.Errorf("limited delete: %+v %v", res, err)
	}
	res, err = s.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceIDPrefix: "d1"}, 0)
	if err != nil || res.Deleted != 6 || !res.Complete {
		t.Errorf("rest of the prefix: %+v %v", res, err)
	}
	// By subject, expired relationships included.
	res, err = s.DeleteWhere(ctx, Filter{Subject: &SubjectFilter{Type: "user", ID: "x"}}, 0)
	if err != nil || res.Deleted != 1 {
		t.Errorf("delete of an expired relationship: %+v %v", res, err)
	}
	res, err = s.DeleteWhere(ctx, Filter{Subject: &SubjectFilter{Type: "user", ID: "u1"}}, 0)
	if err != nil || res.Deleted != 9 {
		t.Errorf("delete by subject: %+v %v", res, err)
	}
	if got := all(t, s, 0); len(got) != 32 {
		t.Errorf("%d left, want 32: %v", len(got), got)
	}
	sets, _, err := s.Changes(ctx, res.Revision-1, 0)
	if err != nil || len(sets) != 1 || len(sets[0].Changes) != 9 || sets[0].Changes[0].Op != Delete {
		t.Errorf("change set of a DeleteWhere: %v %v", sets, err)
	}
}

func TestReadRelationships(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "document:d%02d#viewer@user:u%d\ndocument:d%02d#owner@user:u%d\n", i, i%3, i, i%3)
	}
	if _, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{
		{ResourceType: "document"},
		{ResourceType: "document", Relation: "viewer"},
		{Subject: &SubjectFilter{Type: "user", ID: "u1"}},
		{},
	} {
		var want []string
		for _, r := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if f.Matches(mustParse(t, r)) {
				want = append(want, r)
			}
		}
		sort.Strings(want)
		res, err := s.ReadRelationships(ctx, f, ReadOptions{Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		rev := res.Revision
		// Writes after the first page do not show in later pages.
		if _, err := s.Write(ctx, updates(t, Touch, "document:d00#viewer@user:late")); err != nil {
			t.Fatal(err)
		}
		var got []string
		var keys [][]string
		for {
			for _, r := range res.Relationships {
				got = append(got, r.String())
				keys = append(keys, []string{r.ResourceType, r.Relation, r.ResourceID, r.SubjectType, r.SubjectRelation, r.SubjectID})
			}
			if res.Revision != rev {
				t.Fatalf("page at %d, first at %d", res.Revision, rev)
			}
			if res.Cursor == "" {
				break
			}
			if res, err = s.ReadRelationships(ctx, f, ReadOptions{Limit: 7, Cursor: res.Cursor}); err != nil {
				t.Fatal(err)
			}
		}
		// The forward index's order: type, relation, id, subject.
		if f.ResourceType != "" && !slices.IsSortedFunc(keys, slices.Compare) {
			t.Errorf("%v: not in order: %v", f, got)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: paged read %v, want %v", f, got, want)
		}
		if _, err := s.DeleteWhere(ctx, Filter{ResourceType: "document", Subject: &SubjectFilter{Type: "user", ID: "late"}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Exactly Limit left: no cursor.
	res, err := s.ReadRelationships(ctx, Filter{ResourceType: "document", ResourceID: "d00"}, ReadOptions{Limit: 2})
	if err != nil || len(res.Relationships) != 2 || res.Cursor != "" {
		t.Errorf("read of exactly Limit: %v %q %v", res.Relationships, res.Cursor, err)
	}
	res, _ = s.ReadRelationships(ctx, Filter{ResourceType: "document"}, ReadOptions{Limit: 2})
	if _, err := s.ReadRelationships(ctx, Filter{ResourceType: "folder"}, ReadOptions{Limit: 2, Cursor: res.Cursor}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("cursor of another filter: %v", err)
	}
	if _, err := s.ReadRelationships(ctx, Filter{}, ReadOptions{Cursor: "garbage"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestImportExport(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	in := `# a comment
document:a#viewer@user:ana
document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]

document:a#viewer@user:cy[expiration:2999-01-01T00:00:00.5Z]
document:a#viewer@user:ana
document:b#viewer@group:eng#member
document:tab#viewer@user:dd[only_weekdays:{"tz":"a\tb\\c\nd"}]
`
	var progress []ImportStats
	res, err := s.Import(ctx, strings.NewReader(in), ImportOptions{BatchSize: 2, Progress: func(st ImportStats) { progress = append(progress, st) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 6 || res.Batches != 3 || res.Lines != 8 || len(progress) != 4 {
		t.Errorf("result %+v, %d progress calls", res.ImportStats, len(progress))
	}
	var out strings.Builder
	rev, n, err := s.Export(ctx, &out, ExportOptions{})
	if err != nil || n != 5 || rev != res.Revision {
		t.Fatalf("export: %d at %d, %v", n, rev, err)
	}
	want := []string{
		"document:a#viewer@user:ana",
		`document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
		"document:a#viewer@user:cy[expiration:2999-01-01T00:00:00.5Z]",
		"document:b#viewer@group:eng#member",
		`document:tab#viewer@user:dd[only_weekdays:{"tz":"a\tb\\c\nd"}]`,
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("export:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Importing it again into another store gives the same relationships.
	s2 := newTestStore(t, postgres.Options{})
	if _, err := s2.Import(ctx, strings.NewReader(out.String()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if a, b := all(t, s, 0), all(t, s2, 0); !reflect.DeepEqual(a, b) {
		t.Errorf("round trip: %v, want %v", b, a)
	}
	// TOUCH semantics: an import replaces what is there.
	if _, err := s.Import(ctx, strings.NewReader("document:a#viewer@user:bo\n"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, ok, _ := snapAt(t, s).Get("document", "a", "viewer", "user", "bo", ""); !ok || r.Caveat != nil {
		t.Errorf("import did not replace: %v", r)
	}
}

func TestImportErrors(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	in := "document:a#viewer@user:ana\ndocument:b#viewer@user:bo\ndocument:c#nope@user:cy\nnot a relationship\ndocument:d#viewer@user:dd\n"
	res, err := s.Import(ctx, strings.NewReader(in), ImportOptions{Name: "rels.txt", BatchSize: 1})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 || !strings.HasPrefix(err.Error(), "rels.txt:3: ") || !errors.Is(err, ErrInvalidRelationship) {
		t.Fatalf("error = %v, want rels.txt:3: an invalid relationship", err)
	}
	if res.Imported != 2 {
		t.Errorf("imported %d before the fault, want 2", res.Imported)
	}
	// In one batch, the first fault is reported and nothing is written.
	s2 := newTestStore(t, postgres.Options{})
	_, err = s2.Import(ctx, strings.NewReader(in), ImportOptions{Name: "rels.txt"})
	if err == nil || !strings.HasPrefix(err.Error(), "rels.txt:3: ") {
		t.Errorf("one batch: error = %v", err)
	}
	if got := all(t, s2, 0); len(got) != 0 {
		t.Errorf("a failed batch wrote %v", got)
	}
	res, err = s2.Import(ctx, strings.NewReader(in), ImportOptions{Name: "rels.txt", SkipInvalid: true})
	if err != nil || res.Imported != 3 || res.Skipped != 2 || len(res.Invalid) != 2 {
		t.Errorf("skip invalid: %+v %v", res, err)
	}
	yaml := "schema: ignored\nrelationships: |\n  document:y#viewer@user:ana\n  document:y#bad@user:bo\n"
	_, err = s2.Import(ctx, strings.NewReader(yaml), ImportOptions{Name: "v.yaml"})
	if err == nil || !strings.HasPrefix(err.Error(), "v.yaml:4: ") {
		t.Errorf("yaml: error = %v", err)
	}
}

// A database that cannot be reached is ErrUnavailable, from Open and
// Migrate alike.
func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	uri := "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"
	if _, err := postgres.Open(ctx, uri, postgres.Options{}); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("Open: %v, want ErrUnavailable", err)
	}
	if _, _, err := postgres.Migrate(ctx, uri); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("Migrate: %v, want ErrUnavailable", err)
	}
}
