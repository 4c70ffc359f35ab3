package tuples

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// filterSeeds are filters of every shape, the seeds of FuzzParseFilter (the
// contract suite, datastore/storetest, reads by the same filters).
var filterSeeds = []string{
	"document", "document:q3", "document:q3#viewer", "document:q3*#viewer", "document:q*",
	"document:*#owner", "document#viewer@user", "document#viewer@user:ana", "document:q3#viewer@user:bo",
	"document@user:*", "document:q3#viewer@group#member", "document:q3#viewer@group#...", "@user:ana",
	"@group#member", "@group:ops", "@user:cy#...", "group#member@group:ops#member", "folder:f2",
	"nosuchtype", "document#nosuchrel", "@nosuchtype:x",
}

// TestReadCursorKeyOfAnotherScan checks that a well-formed cursor whose key
// lies outside the filter's scan is refused (the contract suite checks
// cursors that do not decode, and cursors of other filters).
func TestReadCursorKeyOfAnotherScan(t *testing.T) {
	s := newTestStore(t, Options{})
	if _, err := s.Write(context.Background(), updates(t, Touch, "document:a#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	f := Filter{ResourceType: "document"}
	if _, err := s.ReadRelationships(context.Background(), f, ReadOptions{Cursor: encodeCursor(1, []byte("g"))}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("error %v, want ErrBadCursor", err)
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
	for _, s := range filterSeeds {
		f.Add(s)
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
