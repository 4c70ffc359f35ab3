package tuples

import (
	"context"
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
