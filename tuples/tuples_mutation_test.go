package tuples

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests written for mutants that survived the rest of the suite
// (internal/mutate/mutants/tuples.mut names each one).

// A DELETE names a relation, never a permission: deleting
// document:d#view@user:ana is refused as a relationship the schema does not
// allow, as a TOUCH of it is (mutant tuples-delete-of-permission-allowed).
func TestDeleteOfPermissionRefused(t *testing.T) {
	s := newTestStore(t, Options{})
	for _, op := range []UpdateOp{Delete, Touch} {
		_, err := s.Write(context.Background(), updates(t, op, "document:d#view@user:ana"))
		if !errors.Is(err, ErrInvalidRelationship) {
			t.Errorf("%s of a permission: error %v, want ErrInvalidRelationship", op, err)
		}
	}
}

// A relationship expires at its expiration, to the nanosecond: at that
// instant it is gone, one nanosecond before it is live (mutant
// tuples-expiration-boundary).
func TestExpiredAtBoundary(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	r := Relationship{Expiration: &at}
	v := encodeValue(&r)
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{at.Add(-time.Nanosecond), false},
		{at, true},
		{at.Add(time.Nanosecond), true},
		{at.Add(-time.Second), false},
		{at.Add(time.Second), true},
	} {
		if got := expiredAt(v, tt.now); got != tt.want {
			t.Errorf("expiredAt(%s) at %s = %v, want %v", at.Format(time.RFC3339Nano), tt.now.Format(time.RFC3339Nano), got, tt.want)
		}
	}
}

// A prefixed type name's prefix segments have at most 63 characters (one
// fewer than the last segment's 64), as SpiceDB's namespace pattern
// ([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9] says (mutant
// tuples-prefix-segment-64); a relation has 3 to 64 (tuples-name-65: the
// golden file has only a name too short).
func TestPrefixSegmentLength(t *testing.T) {
	seg := func(n int) string { return "a" + strings.Repeat("b", n-1) }
	for _, tt := range []struct {
		typ string
		ok  bool
	}{
		{seg(63) + "/doc", true},
		{seg(64) + "/doc", false},
		{"org/" + seg(64), true},
		{"org/" + seg(65), false},
	} {
		_, err := Parse(tt.typ + ":1#viewer@user:ana")
		if (err == nil) != tt.ok {
			t.Errorf("resource type of %d+%d characters: error %v, want ok=%v", strings.Index(tt.typ, "/"), len(tt.typ)-strings.Index(tt.typ, "/")-1, err, tt.ok)
		}
		_, err = Parse("doc:1#viewer@" + tt.typ + ":ana")
		if (err == nil) != tt.ok {
			t.Errorf("subject type %q: error %v, want ok=%v", tt.typ, err, tt.ok)
		}
	}
	// Relations and subject relations: 3 to 64 characters.
	for _, tt := range []struct {
		n  int
		ok bool
	}{{2, false}, {3, true}, {64, true}, {65, false}} {
		name := seg(tt.n)
		for _, s := range []string{"doc:1#" + name + "@user:ana", "doc:1#viewer@group:eng#" + name} {
			if _, err := Parse(s); (err == nil) != tt.ok {
				t.Errorf("%q: error %v, want ok=%v", s, err, tt.ok)
			}
		}
	}
}

// A filter's subject relation "..." selects plain subjects only, not subject
// sets, in Matches and in a read of the store (mutant
// tuples-filter-ellipsis-matches-any).
func TestFilterEllipsisPlainSubjectsOnly(t *testing.T) {
	f := Filter{ResourceType: "document", Subject: &SubjectFilter{Type: "group", Relation: Ellipsis}}
	if f.Matches(mustParse(t, "document:d#viewer@group:eng#member")) {
		t.Error("Matches: a subject set matches subject relation ...")
	}
	s := newTestStore(t, Options{})
	if _, err := s.Write(context.Background(), updates(t, Touch,
		"document:d#viewer@group:eng#member", "document:d#viewer@user:ana", "group:eng#member@user:ana")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		f    Filter
		want []string
	}{
		{f, nil},
		{Filter{ResourceType: "document", Subject: &SubjectFilter{Type: "user", Relation: Ellipsis}}, []string{"document:d#viewer@user:ana"}},
		{Filter{ResourceType: "document", Subject: &SubjectFilter{Type: "group"}}, []string{"document:d#viewer@group:eng#member"}},
	} {
		var got []string
		if _, err := s.ForEach(context.Background(), 0, tt.f, func(r Relationship) (bool, error) {
			got = append(got, r.String())
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ForEach(%s) = %q, want %q", tt.f, got, tt.want)
		}
	}
}
