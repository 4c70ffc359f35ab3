package v1conv

import (
	"reflect"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Every relationship form survives the trip to the API and back.
func TestRelationshipRoundTrip(t *testing.T) {
	for _, s := range []string{
		"document:q3#viewer@user:ana",
		"document:q3#viewer@group:eng#member",
		"document:q3#viewer@user:*",
		`doc:1#viewer@user:ana[only_weekdays:{"tz":"UTC","n":3,"tags":["a"]}]`,
		"doc:1#viewer@user:ana[only_weekdays]",
		"doc:1#viewer@user:ana[expiration:2027-01-01T00:00:00Z]",
	} {
		r, err := tuples.Parse(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		p, err := RelationshipToProto(r)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		back := RelationshipFromProto(p)
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s: came back as %+v", s, back)
		}
	}
}

// The subject relation `...` of the API is no subject relation in reach.
func TestEllipsis(t *testing.T) {
	r := RelationshipFromProto(&v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: "doc", ObjectId: "1"}, Relation: "viewer",
		Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}, OptionalRelation: "..."},
	})
	if r.SubjectRelation != "" {
		t.Errorf("subject relation %q, want none", r.SubjectRelation)
	}
}

func TestPermissionship(t *testing.T) {
	for _, p := range []engine.Permissionship{engine.Denied, engine.Allowed, engine.Conditional} {
		if got := PermissionshipFromProto(PermissionshipToProto(p)); got != p {
			t.Errorf("%v came back as %v", p, got)
		}
	}
	for _, p := range []engine.Permissionship{engine.Allowed, engine.Conditional} {
		if got := LookupPermissionshipFromProto(LookupPermissionshipToProto(p)); got != p {
			t.Errorf("lookup %v came back as %v", p, got)
		}
	}
}

// Filters survive the trip to the API and back, the subject filter for
// "no subject relation" included.
func TestFilterRoundTrip(t *testing.T) {
	for _, f := range []tuples.Filter{
		{ResourceType: "doc"},
		{ResourceType: "doc", ResourceID: "1", Relation: "viewer"},
		{ResourceType: "doc", ResourceIDPrefix: "q", Subject: &tuples.SubjectFilter{Type: "user"}},
		{ResourceType: "doc", Subject: &tuples.SubjectFilter{Type: "user", ID: "ana", Relation: tuples.Ellipsis}},
		{ResourceType: "doc", Subject: &tuples.SubjectFilter{Type: "group", ID: "eng", Relation: "member"}},
	} {
		if back := FilterFromProto(FilterToProto(f)); !reflect.DeepEqual(back, f) {
			t.Errorf("%+v came back as %+v", f, back)
		}
	}
}
