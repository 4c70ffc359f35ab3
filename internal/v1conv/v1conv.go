// Package v1conv converts between reach's types and the messages of the
// authzed v1 API (github.com/authzed/authzed-go), in both directions: the
// server (package server) and the CLI's client for a remote server
// (cmd/reach) share it, so that a relationship or an answer means the same
// on both sides of the wire.
package v1conv

import (
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// RelationshipToProto converts a relationship for the API. It fails only
// when a caveat context holds a value protobuf's Struct cannot carry.
func RelationshipToProto(r tuples.Relationship) (*v1.Relationship, error) {
	out := &v1.Relationship{
		Resource: &v1.ObjectReference{ObjectType: r.ResourceType, ObjectId: r.ResourceID},
		Relation: r.Relation,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: r.SubjectType, ObjectId: r.SubjectID},
			OptionalRelation: r.SubjectRelation,
		},
	}
	if r.Caveat != nil {
		c := &v1.ContextualizedCaveat{CaveatName: r.Caveat.Name}
		if len(r.Caveat.Context) > 0 {
			st, err := structpb.NewStruct(r.Caveat.Context)
			if err != nil {
				return nil, fmt.Errorf("caveat context of %s: %w", r.WithoutTraits(), err)
			}
			c.Context = st
		}
		out.OptionalCaveat = c
	}
	if r.Expiration != nil {
		out.OptionalExpiresAt = timestamppb.New(*r.Expiration)
	}
	return out, nil
}

// RelationshipFromProto converts a relationship from the API as it is: the
// subject relation `...` becomes none, an empty caveat context none. It does
// not validate; callers that accept input call Relationship.Validate (and
// check the expiration timestamp with CheckValid first).
func RelationshipFromProto(r *v1.Relationship) tuples.Relationship {
	out := tuples.Relationship{
		ResourceType:    r.GetResource().GetObjectType(),
		ResourceID:      r.GetResource().GetObjectId(),
		Relation:        r.GetRelation(),
		SubjectType:     r.GetSubject().GetObject().GetObjectType(),
		SubjectID:       r.GetSubject().GetObject().GetObjectId(),
		SubjectRelation: r.GetSubject().GetOptionalRelation(),
	}
	if out.SubjectRelation == tuples.Ellipsis {
		out.SubjectRelation = ""
	}
	if c := r.GetOptionalCaveat(); c != nil {
		out.Caveat = &tuples.Caveat{Name: c.GetCaveatName()}
		if len(c.GetContext().GetFields()) > 0 {
			out.Caveat.Context = c.GetContext().AsMap()
		}
	}
	if ts := r.GetOptionalExpiresAt(); ts != nil {
		t := ts.AsTime().UTC()
		out.Expiration = &t
	}
	return out
}

// FilterFromProto converts a relationship filter. As in SpiceDB, a subject
// filter whose optional_relation is present with an empty relation selects
// subjects without a subject relation (tuples.Ellipsis).
func FilterFromProto(f *v1.RelationshipFilter) tuples.Filter {
	out := tuples.Filter{
		ResourceType:     f.GetResourceType(),
		ResourceID:       f.GetOptionalResourceId(),
		ResourceIDPrefix: f.GetOptionalResourceIdPrefix(),
		Relation:         f.GetOptionalRelation(),
	}
	if sf := f.GetOptionalSubjectFilter(); sf != nil {
		out.Subject = &tuples.SubjectFilter{Type: sf.GetSubjectType(), ID: sf.GetOptionalSubjectId()}
		if rf := sf.GetOptionalRelation(); rf != nil {
			out.Subject.Relation = rf.GetRelation()
			if out.Subject.Relation == "" {
				out.Subject.Relation = tuples.Ellipsis
			}
		}
	}
	return out
}

// FilterToProto converts a filter for the API, the inverse of
// FilterFromProto. The empty filter has no form in the API (callers export
// instead).
func FilterToProto(f tuples.Filter) *v1.RelationshipFilter {
	out := &v1.RelationshipFilter{
		ResourceType:             f.ResourceType,
		OptionalResourceId:       f.ResourceID,
		OptionalResourceIdPrefix: f.ResourceIDPrefix,
		OptionalRelation:         f.Relation,
	}
	if s := f.Subject; s != nil {
		sf := &v1.SubjectFilter{SubjectType: s.Type, OptionalSubjectId: s.ID}
		switch s.Relation {
		case "":
		case tuples.Ellipsis: // subjects without a relation
			sf.OptionalRelation = &v1.SubjectFilter_RelationFilter{Relation: ""}
		default:
			sf.OptionalRelation = &v1.SubjectFilter_RelationFilter{Relation: s.Relation}
		}
		out.OptionalSubjectFilter = sf
	}
	return out
}

// PermissionshipToProto converts a check's answer.
func PermissionshipToProto(p engine.Permissionship) v1.CheckPermissionResponse_Permissionship {
	switch p {
	case engine.Allowed:
		return v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
	case engine.Conditional:
		return v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION
	}
	return v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
}

// PermissionshipFromProto converts a check's answer from the API; anything
// but has-permission and conditional is denied.
func PermissionshipFromProto(p v1.CheckPermissionResponse_Permissionship) engine.Permissionship {
	switch p {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		return engine.Allowed
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		return engine.Conditional
	}
	return engine.Denied
}

// LookupPermissionshipToProto converts the answer of a lookup result (which
// is never denied).
func LookupPermissionshipToProto(p engine.Permissionship) v1.LookupPermissionship {
	if p == engine.Conditional {
		return v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION
	}
	return v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION
}

// LookupPermissionshipFromProto converts the answer of a lookup result.
func LookupPermissionshipFromProto(p v1.LookupPermissionship) engine.Permissionship {
	if p == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
		return engine.Conditional
	}
	return engine.Allowed
}
