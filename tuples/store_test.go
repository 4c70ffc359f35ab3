package tuples

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
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

// TestReopenNewNames writes relationships, reopens the store, and writes
// relationships with type and relation names it has not seen before, by
// Write and by Import, then reads everything back, through every view,
// after the writes and after reopening again. Names are stored as ids
// assigned in order (see keys.go): a new name after reopening must get an
// id no restored name has (a store that gave it the id of the last name
// restored would read "user" relationships back as the new type's).
func TestReopenNewNames(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *Store {
		t.Helper()
		s, err := Open(dir, Options{MemTableSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	// The first names, in two batches: document, viewer, user; then
	// owner. (Restored in name order, the last is viewer, not the newest.)
	want := []string{"document:a#viewer@user:ana", "document:a#viewer@user:*"}
	if _, err := s.Write(ctx, updates(t, Touch, want...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#owner@user:bo")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "document:a#owner@user:bo")
	for round, batch := range [][]string{
		// New: group, member (a subject relation too), folder, parent.
		{"group:eng#member@user:ana", "document:a#viewer@group:eng#member", "document:b#parent@folder:f1", "folder:f1#viewer@user:cy"},
		// New after the second reopen, by Import: team, lead, and a
		// schema to allow them.
		{"team:t1#lead@user:ana", "team:t1#lead@group:eng#member", "document:c#viewer@user:dee"},
	} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open()
		if round == 0 {
			if _, err := s.Write(ctx, updates(t, Touch, batch...)); err != nil {
				t.Fatal(err)
			}
		} else {
			src := testSchema + "\ndefinition team {\n  relation lead: user | group#member\n}\n"
			if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(src)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Import(ctx, strings.NewReader(strings.Join(batch, "\n")), ImportOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, batch...)
		sort.Strings(want)
		check := func(when string) {
			t.Helper()
			if got := all(t, s, 0); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: read back %q, want %q", when, got, want)
			}
			head, _ := s.HeadRevision(ctx)
			sn, err := s.Snapshot(ctx, head)
			if err != nil {
				t.Fatal(err)
			}
			defer sn.Close()
			for _, line := range want {
				r := mustParse(t, line)
				if _, ok, err := sn.Get(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation); !ok || err != nil {
					t.Errorf("%s: Get(%s) = %v, %v", when, line, ok, err)
				}
				found := 0
				sn.Resources(r.SubjectType, r.SubjectID, r.SubjectRelation, r.ResourceType, r.Relation, func(x Relationship) bool {
					if x.String() == line {
						found++
					}
					return true
				})
				sn.Subjects(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectRelation, func(x Relationship) bool {
					if x.String() == line {
						found++
					}
					return true
				})
				if found != 2 {
					t.Errorf("%s: %s found %d times by Resources and Subjects, want once by each", when, line, found)
				}
			}
			checkIndexes(t, s)
		}
		check(fmt.Sprintf("after writing new names (round %d)", round))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open()
		check(fmt.Sprintf("after reopening (round %d)", round))
	}
	s.Close()
}

// TestRevisionsConsecutive checks what the Badger store promises beyond
// the contract (which asks only that revisions increase): every committed
// write takes the next revision, and every import batch one.
func TestRevisionsConsecutive(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	head, _ := s.HeadRevision(ctx)
	r1, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", "document:b#viewer@user:ana"))
	if err != nil || r1 != head+1 {
		t.Fatalf("write at %d (%v), want %d", r1, err, head+1)
	}
	res, err := s.Import(ctx, strings.NewReader("document:c#viewer@user:ana\ndocument:d#viewer@user:ana\ndocument:e#viewer@user:ana\n"), ImportOptions{BatchSize: 2})
	if err != nil || res.Batches != 2 || res.Revision != r1+2 {
		t.Fatalf("import of 2 batches ending at %d (%v), want %d", res.Revision, err, r1+2)
	}
	del, err := s.DeleteWhere(ctx, Filter{ResourceType: "document"}, 0)
	if err != nil || del.Revision != r1+3 {
		t.Fatalf("delete at %d (%v), want %d", del.Revision, err, r1+3)
	}
	r5, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema))
	if err != nil || r5 != r1+4 {
		t.Fatalf("schema at %d (%v), want %d", r5, err, r1+4)
	}
}
