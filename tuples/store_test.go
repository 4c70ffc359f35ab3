package tuples

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

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

func newTestStore(t testing.TB, opts Options) *Store {
	t.Helper()
	opts.InMemory = true
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 8 << 20 // opens faster; batches still fit
	}
	s, err := Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
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
func all(t testing.TB, s *Store, rev Revision) []string {
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

func TestWriteAndSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
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
	if head, _ := s.HeadRevision(context.Background()); head != rev2 {
		t.Errorf("head %d, want %d", head, rev2)
	}
	old, err := s.Snapshot(context.Background(), rev1)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	cur, err := s.Snapshot(context.Background(), rev2)
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

	var subjects []string
	if err := old.Subjects("document", "q3", "viewer", "", "", func(r Relationship) bool {
		subjects = append(subjects, r.String())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(subjects)
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
	var resources []string
	cur.Resources("group", "eng", "member", "document", "viewer", func(r Relationship) bool {
		resources = append(resources, r.String())
		return true
	})
	if !reflect.DeepEqual(resources, []string{"document:q3#viewer@group:eng#member"}) {
		t.Errorf("Resources = %v", resources)
	}
	if _, err := s.Snapshot(context.Background(), rev2+1); !errors.Is(err, ErrRevisionInFuture) {
		t.Errorf("Snapshot(head+1) error = %v, want ErrRevisionInFuture", err)
	}
}

func TestWriteIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if _, err := s.Write(ctx, updates(t, Create, "document:a#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	head, _ := s.HeadRevision(context.Background())
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
		{"expiration not allowed", updates(t, Touch, "document:b#owner@user:ana[expiration:2030-01-01T00:00:00Z]"), ErrInvalidRelationship, "expiration"},
		{"unknown type", updates(t, Touch, "nothing:b#owner@user:ana"), ErrInvalidRelationship, "nothing"},
		{"duplicate", updates(t, Touch, "document:b#viewer@user:bo", "document:b#viewer@user:bo"), ErrDuplicateUpdate, "document:b#viewer@user:bo"},
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
			if h, _ := s.HeadRevision(context.Background()); h != head {
				t.Errorf("head moved to %d on a failed write", h)
			}
			if got := all(t, s, 0); !reflect.DeepEqual(got, []string{"document:a#viewer@user:ana"}) {
				t.Errorf("store holds %v after a failed write", got)
			}
		})
	}
}

func TestPreconditions(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
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
}

func snapAt(t testing.TB, s *Store) Snapshot {
	t.Helper()
	head, _ := s.HeadRevision(context.Background())
	sn, err := s.Snapshot(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sn.Close)
	return sn
}

func TestCaveatAndExpiration(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if _, err := s.Write(ctx, updates(t, Touch,
		`document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`,
		"document:a#viewer@user:bo[expiration:2999-01-01T00:00:00.25Z]",
		"document:a#viewer@user:cy[expiration:"+past+"]",
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
	if _, ok, _ := sn.Get("document", "a", "viewer", "user", "cy", ""); ok {
		t.Errorf("expired relationship is visible")
	}
	got := all(t, s, 0)
	if len(got) != 2 {
		t.Errorf("expired relationship listed: %v", got)
	}
	// CREATE over an expired relationship succeeds, as it is absent.
	if _, err := s.Write(ctx, updates(t, Create, "document:a#viewer@user:cy")); err != nil {
		t.Errorf("create over an expired relationship: %v", err)
	}
}

func TestSchemaOrphans(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
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
	// Adding things is always fine.
	if _, _, err := s.WriteSchema(ctx, "more.zed", []byte(testSchema+"\ndefinition team {}\n")); err != nil {
		t.Errorf("adding a definition: %v", err)
	}
	// Once the relationships are gone the relation may go.
	if _, err := s.Write(ctx, updates(t, Delete, "document:a#parent@folder:f1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WriteSchema(ctx, "less.zed", []byte(strings.Replace(testSchema, "  relation parent: folder\n", "", 1))); err != nil {
		t.Errorf("dropping an unused relation: %v", err)
	}
}

func TestBatchLimit(t *testing.T) {
	s := newTestStore(t, Options{MaxBatch: 2})
	_, err := s.Write(context.Background(), updates(t, Touch, "document:a#viewer@user:a1", "document:a#viewer@user:a2", "document:a#viewer@user:a3"))
	if !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("error = %v, want ErrBatchTooLarge", err)
	}
}

func TestNoSchema(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(context.Background(), updates(t, Touch, "document:a#viewer@user:a1")); !errors.Is(err, ErrNoSchema) {
		t.Errorf("error = %v, want ErrNoSchema", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", `document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := all(t, s, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if head, _ := s.HeadRevision(context.Background()); head != rev {
		t.Errorf("head after reopen %d, want %d", head, rev)
	}
	if got := all(t, s, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen %v, want %v", got, want)
	}
	if p, _, err := s.Schema(ctx); p == nil || err != nil {
		t.Errorf("schema after reopen: %v %v", p, err)
	}
	rev2, err := s.Write(ctx, updates(t, Touch, "document:b#viewer@user:ana"))
	if err != nil || rev2 != rev+1 {
		t.Errorf("write after reopen: %d %v", rev2, err)
	}
}
