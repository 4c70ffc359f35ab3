package tuples

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// filterData is stored by newFilterStore.
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

func newFilterStore(t *testing.T) *Store {
	t.Helper()
	s := newTestStore(t, Options{})
	if _, err := s.Write(context.Background(), updates(t, Touch, filterData...)); err != nil {
		t.Fatal(err)
	}
	return s
}

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

func TestReadByFilter(t *testing.T) {
	s := newFilterStore(t)
	for _, tt := range filterTests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := ParseFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.ReadRelationships(context.Background(), f, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Relationships {
				got = append(got, r.String())
				if !f.Matches(r) {
					t.Errorf("%s does not match %s", r, f)
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read %s = %q, want %q", tt.filter, got, tt.want)
			}
			if res.Cursor != "" {
				t.Errorf("cursor %q after reading everything", res.Cursor)
			}
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		in, part string
		col      int
	}{
		{"", "resource type", 1},
		{"Document", "resource type", 1},
		{"document:q 3", "resource id", 11},
		{"document:q3#", "relation", 13},
		{"document:q3#Viewer", "relation", 13},
		{"document:q 3*", "resource id prefix", 11},
		{"document:*3", "resource id", 10},
		{"document@", "subject type", 10},
		{"document@user:a!b", "subject id", 16},
		{"document@user:*#member", "subject relation", 17},
		{"@group:eng#x", "subject relation", 12},
		{"#viewer", "resource type", 1},
	}
	for _, tt := range tests {
		_, err := ParseFilter(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParseFilter(%q) error = %v, want a *ParseError", tt.in, err)
			continue
		}
		if pe.Part != tt.part || pe.Column != tt.col || !strings.HasPrefix(err.Error(), "invalid filter") {
			t.Errorf("ParseFilter(%q): %q at column %d, want %q at column %d (%v)", tt.in, pe.Part, pe.Column, tt.part, tt.col, err)
		}
	}
}

// FuzzParseFilter checks that ParseFilter never panics, and that a filter it
// accepts matches a relationship built from its own parts.
func FuzzParseFilter(f *testing.F) {
	for _, tt := range filterTests {
		f.Add(tt.filter)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		if flt.IsEmpty() {
			t.Fatalf("ParseFilter(%q) accepted an empty filter", s)
		}
		r := Relationship{ResourceType: flt.ResourceType, ResourceID: flt.ResourceID + flt.ResourceIDPrefix + "x",
			Relation: flt.Relation, SubjectType: "user", SubjectID: "u"}
		if flt.ResourceID != "" {
			r.ResourceID = flt.ResourceID
		}
		if r.ResourceType == "" {
			r.ResourceType = "document"
		}
		if r.Relation == "" {
			r.Relation = "viewer"
		}
		if sf := flt.Subject; sf != nil {
			r.SubjectType = sf.Type
			if sf.ID != "" {
				r.SubjectID = sf.ID
			}
			if sf.Relation != Ellipsis {
				r.SubjectRelation = sf.Relation
			}
		}
		if !flt.Matches(r) {
			t.Fatalf("filter %q (%s) does not match %s", s, flt, r)
		}
	})
}

func TestReadPagination(t *testing.T) {
	ctx := context.Background()
	s := newFilterStore(t)
	f, _ := ParseFilter("document")
	full, err := s.ReadRelationships(ctx, f, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{"document:q0#viewer@user:zed", "document:zz#viewer@user:zed"}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		var got []Relationship
		opts := ReadOptions{Limit: limit}
		var rev Revision
		pages := 0
		for {
			res, err := s.ReadRelationships(ctx, f, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(res.Relationships) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(res.Relationships))
			}
			if pages == 1 {
				rev = res.Revision
				// A write between pages is not seen: the cursor keeps the
				// first page's revision.
				if _, err := s.Write(ctx, updates(t, Touch, extra...)); err != nil {
					t.Fatal(err)
				}
			} else if res.Revision != rev {
				t.Errorf("limit %d: page %d at revision %d, want %d", limit, pages, res.Revision, rev)
			}
			got = append(got, res.Relationships...)
			if res.Cursor == "" {
				break
			}
			opts.Cursor = res.Cursor
		}
		if _, err := s.Write(ctx, updates(t, Delete, extra...)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, full.Relationships) {
			t.Errorf("limit %d: pages gave %v, want %v", limit, got, full.Relationships)
		}
		if want := (len(full.Relationships) + limit - 1) / limit; pages != want {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}

	bad := []string{"nonsense!", "AQ", encodeCursor(1, []byte("g"))}
	for _, c := range bad {
		if _, err := s.ReadRelationships(ctx, f, ReadOptions{Cursor: c}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: error %v, want ErrBadCursor", c, err)
		}
	}
	// A cursor of another filter is refused rather than misread.
	page, _ := s.ReadRelationships(ctx, f, ReadOptions{Limit: 1})
	other, _ := ParseFilter("@user:ana")
	if _, err := s.ReadRelationships(ctx, other, ReadOptions{Cursor: page.Cursor}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("cursor of another filter: error %v, want ErrBadCursor", err)
	}
}

func TestDeleteWhere(t *testing.T) {
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
		{"@user:cy", 0, 2, true},
		{"@group#member", 1, 1, false},
		{"nosuchtype", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			ctx := context.Background()
			s := newFilterStore(t)
			head, _ := s.HeadRevision(context.Background())
			before := all(t, s, 0)
			f, err := ParseFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.DeleteWhere(ctx, f, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Deleted != tt.deleted || res.Complete != tt.complete {
				t.Errorf("deleted %d (complete %v), want %d (%v)", res.Deleted, res.Complete, tt.deleted, tt.complete)
			}
			wantRev := head + 1
			if tt.deleted == 0 {
				wantRev = head
			}
			if res.Revision != wantRev {
				t.Errorf("revision %d, want %d", res.Revision, wantRev)
			}
			after := all(t, s, 0)
			if len(before)-len(after) != tt.deleted {
				t.Errorf("%d relationships before, %d after", len(before), len(after))
			}
			for _, line := range after {
				if r := mustParse(t, line); f.Matches(r) && tt.complete {
					t.Errorf("%s still there", r)
				}
			}
			// The old revision still has them all.
			if got := all(t, s, head); !reflect.DeepEqual(got, before) {
				t.Errorf("revision %d changed: %q", head, got)
			}
		})
	}
}

func TestDeleteWherePreconditionAndEmptyFilter(t *testing.T) {
	ctx := context.Background()
	s := newFilterStore(t)
	if _, err := s.DeleteWhere(ctx, Filter{}, 0); err == nil {
		t.Error("an empty filter deleted everything")
	}
	f, _ := ParseFilter("document:q1")
	never, _ := ParseFilter("document:q1#owner")
	_, err := s.DeleteWhere(ctx, f, 0, Precondition{MustMatch: true, Filter: never})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("error %v, want ErrPreconditionFailed", err)
	}
	if len(all(t, s, 0)) != len(filterData) {
		t.Error("deleted although the precondition failed")
	}
}

// TestDeleteWhereLarge deletes more than one batch (deleteChunk) holds.
func TestDeleteWhereLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 45,000 relationships")
	}
	ctx := context.Background()
	s := newTestStore(t, Options{})
	var b strings.Builder
	for i := range 45000 {
		b.WriteString("document:big#viewer@user:u")
		b.WriteString(strings.Repeat("x", i%3))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	if _, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceID: "big"}, 0)
	if err != nil || res.Deleted != 45000 || !res.Complete {
		t.Fatalf("deleted %d (%v), err %v", res.Deleted, res.Complete, err)
	}
	if n := len(all(t, s, 0)); n != 0 {
		t.Errorf("%d left", n)
	}
}
