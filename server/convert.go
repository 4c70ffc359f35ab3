package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/tuples"
)

// This file converts between the authzed.api.v1 messages and reach's types.

// zedToken wraps a revision as the API's ZedToken.
func zedToken(rev tuples.Revision) *v1.ZedToken {
	return &v1.ZedToken{Token: rev.Token()}
}

// revToken is a revision and its token.
type revToken struct {
	rev   tuples.Revision
	token string
}

// token is rev.Token(), remembered for the revision asked last: checks at
// minimize_latency share one revision for seconds at a time.
func (s *Server) token(rev tuples.Revision) string {
	if t := s.lastToken.Load(); t != nil && t.rev == rev {
		return t.token
	}
	t := &revToken{rev, rev.Token()}
	s.lastToken.Store(t)
	return t.token
}

// consistency reads the API's consistency requirement; none means
// minimize_latency, SpiceDB's default.
func consistency(c *v1.Consistency) (engine.Consistency, error) {
	switch r := c.GetRequirement().(type) {
	case nil, *v1.Consistency_MinimizeLatency:
		return engine.Consistency{Mode: engine.MinimizeLatency}, nil
	case *v1.Consistency_FullyConsistent:
		return engine.Consistency{Mode: engine.FullyConsistent}, nil
	case *v1.Consistency_AtLeastAsFresh:
		if r.AtLeastAsFresh.GetToken() == "" {
			return engine.Consistency{}, invalidArgument("at_least_as_fresh needs a zedtoken")
		}
		return engine.Consistency{Mode: engine.AtLeastAsFresh, Token: r.AtLeastAsFresh.GetToken()}, nil
	case *v1.Consistency_AtExactSnapshot:
		if r.AtExactSnapshot.GetToken() == "" {
			return engine.Consistency{}, invalidArgument("at_exact_snapshot needs a zedtoken")
		}
		return engine.Consistency{Mode: engine.AtExactSnapshot, Token: r.AtExactSnapshot.GetToken()}, nil
	}
	return engine.Consistency{}, invalidArgument("unknown consistency requirement")
}

// relationshipFromProto converts a relationship of the API. The caller has
// validated the message; the fields are checked again by the store.
func relationshipFromProto(r *v1.Relationship) (tuples.Relationship, error) {
	if ts := r.GetOptionalExpiresAt(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return tuples.Relationship{}, invalidArgument("relationship %s: expiration: %v", v1conv.RelationshipFromProto(r).WithoutTraits(), err)
		}
	}
	out := v1conv.RelationshipFromProto(r)
	if err := out.Validate(); err != nil {
		return tuples.Relationship{}, invalidArgument("%s", err)
	}
	return out, nil
}

// checkFilter refuses a filter that selects nothing in particular, as
// SpiceDB does ("at least one field of the filter must be set").
func checkFilter(f *v1.RelationshipFilter) error {
	if f == nil {
		return invalidArgument("a relationship filter is required")
	}
	if f.GetOptionalResourceId() != "" && f.GetOptionalResourceIdPrefix() != "" {
		return invalidArgument("the relationship filter provided is not valid: cannot specify both OptionalResourceId and OptionalResourceIDPrefix")
	}
	if f.GetResourceType() == "" && f.GetOptionalResourceId() == "" && f.GetOptionalResourceIdPrefix() == "" &&
		f.GetOptionalRelation() == "" && f.GetOptionalSubjectFilter() == nil {
		return invalidArgument("the relationship filter provided is not valid: at least one field must be specified")
	}
	return nil
}

// preconditionsFromProto converts write preconditions.
func preconditionsFromProto(ps []*v1.Precondition) ([]tuples.Precondition, error) {
	out := make([]tuples.Precondition, 0, len(ps))
	for i, p := range ps {
		if p.GetFilter() == nil {
			return nil, invalidArgument("precondition %d: one of the specified preconditions is empty", i)
		}
		if err := checkFilter(p.GetFilter()); err != nil {
			return nil, err
		}
		out = append(out, tuples.Precondition{
			MustMatch: p.GetOperation() == v1.Precondition_OPERATION_MUST_MATCH,
			Filter:    v1conv.FilterFromProto(p.GetFilter()),
		})
	}
	return out, nil
}

// objectFromProto and subjectFromProto convert references for the engine.
func objectFromProto(o *v1.ObjectReference) engine.Object {
	return engine.Object{Type: o.GetObjectType(), ID: o.GetObjectId()}
}

func subjectFromProto(s *v1.SubjectReference) engine.Subject {
	rel := s.GetOptionalRelation()
	if rel == tuples.Ellipsis {
		rel = ""
	}
	return engine.Subject{Type: s.GetObject().GetObjectType(), ID: s.GetObject().GetObjectId(), Relation: rel}
}

func subjectToProto(s engine.Subject) *v1.SubjectReference {
	return &v1.SubjectReference{
		Object:           &v1.ObjectReference{ObjectType: s.Type, ObjectId: s.ID},
		OptionalRelation: s.Relation,
	}
}

// contextFromProto reads a caveat context.
func contextFromProto(s *structpb.Struct) map[string]any {
	if s == nil || len(s.GetFields()) == 0 {
		return nil
	}
	return s.AsMap()
}

// expandToProto converts the engine's userset tree.
func expandToProto(n *engine.ExpandNode) *v1.PermissionRelationshipTree {
	out := &v1.PermissionRelationshipTree{ExpandedRelation: n.Relation}
	if n.Resource.Type != "" {
		out.ExpandedObject = &v1.ObjectReference{ObjectType: n.Resource.Type, ObjectId: n.Resource.ID}
	}
	var op v1.AlgebraicSubjectSet_Operation
	switch n.Op {
	case engine.ExpandUnion:
		op = v1.AlgebraicSubjectSet_OPERATION_UNION
	case engine.ExpandIntersection:
		op = v1.AlgebraicSubjectSet_OPERATION_INTERSECTION
	case engine.ExpandExclusion:
		op = v1.AlgebraicSubjectSet_OPERATION_EXCLUSION
	default: // leaf, cycle
		leaf := &v1.DirectSubjectSet{}
		for _, s := range n.Subjects {
			leaf.Subjects = append(leaf.Subjects, subjectToProto(s.Subject))
		}
		out.TreeType = &v1.PermissionRelationshipTree_Leaf{Leaf: leaf}
		return out
	}
	set := &v1.AlgebraicSubjectSet{Operation: op}
	for _, c := range n.Children {
		set.Children = append(set.Children, expandToProto(c))
	}
	out.TreeType = &v1.PermissionRelationshipTree_Intermediate{Intermediate: set}
	return out
}

// errBadCursor is wrapped by the errors of the server's own cursors.
var errBadCursor = errors.New("invalid cursor")

// errRevisionZero refuses a cursor at revision 0. A cursor follows a
// result, and revision 0, the empty store before any write, has none; so
// such a cursor is forged, and the store would take its 0 for "the head".
var errRevisionZero = fmt.Errorf("%w: it names revision 0, which holds nothing to continue", errBadCursor)

// pageCursor is the server's cursor for ReadRelationships and
// ExportBulkRelationships. The store hands out a cursor only at the end of
// a page, while the API puts one after every result; so a result's cursor
// names the store cursor its page started from (empty: the start of the
// read at Revision) and how many results of that page to skip.
type pageCursor struct {
	Revision tuples.Revision
	Skip     int
	Store    string
}

const pageCursorPrefix = "rp1."

func (c pageCursor) encode() *v1.Cursor {
	s := pageCursorPrefix + c.Revision.Token() + "." + strconv.Itoa(c.Skip) + "." + c.Store
	return &v1.Cursor{Token: base64.RawURLEncoding.EncodeToString([]byte(s))}
}

func decodePageCursor(c *v1.Cursor) (pageCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c.GetToken())
	if err != nil {
		return pageCursor{}, fmt.Errorf("%w: %v", errBadCursor, err)
	}
	rest, ok := strings.CutPrefix(string(raw), pageCursorPrefix)
	if !ok {
		return pageCursor{}, fmt.Errorf("%w: not a read cursor", errBadCursor)
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 {
		return pageCursor{}, fmt.Errorf("%w: malformed", errBadCursor)
	}
	rev, err := tuples.ParseToken(parts[0])
	if err != nil {
		return pageCursor{}, fmt.Errorf("%w: %v", errBadCursor, err)
	}
	if rev == 0 {
		return pageCursor{}, errRevisionZero
	}
	skip, err := strconv.Atoi(parts[1])
	if err != nil || skip < 0 {
		return pageCursor{}, fmt.Errorf("%w: bad offset", errBadCursor)
	}
	return pageCursor{Revision: rev, Skip: skip, Store: parts[2]}, nil
}

// lookupCursor is the server's cursor for LookupResources: the revision read
// and the last resource id returned (results come in id order).
type lookupCursor struct {
	Revision tuples.Revision
	After    string
}

const lookupCursorPrefix = "lr1."

func (c lookupCursor) encode() *v1.Cursor {
	s := lookupCursorPrefix + c.Revision.Token() + "." + c.After
	return &v1.Cursor{Token: base64.RawURLEncoding.EncodeToString([]byte(s))}
}

func decodeLookupCursor(c *v1.Cursor) (lookupCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c.GetToken())
	if err != nil {
		return lookupCursor{}, fmt.Errorf("%w: %v", errBadCursor, err)
	}
	rest, ok := strings.CutPrefix(string(raw), lookupCursorPrefix)
	if !ok {
		return lookupCursor{}, fmt.Errorf("%w: not a lookup cursor", errBadCursor)
	}
	tok, after, ok := strings.Cut(rest, ".")
	if !ok || after == "" {
		return lookupCursor{}, fmt.Errorf("%w: malformed", errBadCursor)
	}
	rev, err := tuples.ParseToken(tok)
	if err != nil {
		return lookupCursor{}, fmt.Errorf("%w: %v", errBadCursor, err)
	}
	if rev == 0 {
		return lookupCursor{}, errRevisionZero
	}
	return lookupCursor{Revision: rev, After: after}, nil
}

// expired reports whether t has passed (a relationship written with an
// expiration already past is accepted and treated as absent).
func expired(t *time.Time) bool { return t != nil && !t.After(time.Now()) }
