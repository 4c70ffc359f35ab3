package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Names the schema lacks. The engine and the store each word an unknown
// type, relation or permission in their own way ("object definition "x":
// not defined in the schema", "relation `x` not found on `y`"); the
// commands say it one way, with the nearest name the schema has:
//
//	type "documnt" is not defined in the schema (did you mean "document"?)
//	relation or permission "veiw" is not defined on type "document" (did you mean "view"?)
//	relation "viewr" is not defined on type "document" (did you mean "viewer"?)
//	caveat "on_weekday" is not defined in the schema (did you mean "on_weekdays"?)
//
// Requests go to the engine or the store as they are; when one fails for a
// name, the command finds the name in the schema (undefinedIn) and words the
// error. A server's errors (--endpoint) are the server's, but for what the
// command checks before it sends anything (import lines, filters).

// didYouMean is ` (did you mean "X"?)` for the candidate nearest name, or "".
func didYouMean(name string, candidates []string) string {
	if best := schema.Closest(name, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func typeNames(p *schema.Program) []string {
	var out []string
	for _, d := range p.Definitions() {
		out = append(out, d.Name)
	}
	return out
}

// memberNames are the relations (and, unless relationsOnly, permissions) of d.
func memberNames(d *schema.Definition, relationsOnly bool) []string {
	var out []string
	for _, r := range d.Relations {
		if !relationsOnly || r.Kind == schema.KindRelation {
			out = append(out, r.Name)
		}
	}
	return out
}

// nameRef is a type, and optionally a relation or permission on it, that a
// request names.
type nameRef struct {
	typ, member string
	// relation: member must be a relation (a relationship's relation),
	// not a permission.
	relation bool
}

// undefinedIn returns the error for the first name of refs that p does not
// define, or nil when p defines them all.
func undefinedIn(p *schema.Program, refs ...nameRef) error {
	for _, r := range refs {
		if r.typ == "" {
			continue
		}
		d := p.Definition(r.typ)
		if d == nil {
			return fmt.Errorf("type %q is not defined in the schema%s", r.typ, didYouMean(r.typ, typeNames(p)))
		}
		if r.member == "" || r.member == tuples.Ellipsis {
			continue
		}
		if d.Relation(r.member) == nil {
			return undefinedMember(d, r.member, r.relation)
		}
	}
	return nil
}

// undefinedMember is the error for a relation or permission d lacks
// (relation: a relation was asked for).
func undefinedMember(d *schema.Definition, name string, relation bool) error {
	what := "relation or permission"
	if relation {
		what = "relation"
	}
	return fmt.Errorf("%s %q is not defined on type %q%s", what, name, d.Name, didYouMean(name, memberNames(d, relation)))
}

// schemaGetter reads the schema in force: a store, or a server.
type schemaGetter interface {
	Schema(ctx context.Context) (*schema.Program, tuples.Revision, error)
}

// headSchema is the schema s has in force, or nil (none, or unreadable).
func headSchema(ctx context.Context, s schemaGetter) *schema.Program {
	p, _, err := s.Schema(ctx)
	if err != nil {
		return nil
	}
	return p
}

// errNoSchema says that the store has no schema, and how to write one. It
// is both packages' ErrNoSchema, so that each command keeps its exit status.
func errNoSchema() error { return noSchemaError{storeName()} }

type noSchemaError struct{ where string }

func (e noSchemaError) Error() string {
	return fmt.Sprintf("no schema has been written to %s: write one with `reach schema write FILE`", e.where)
}

func (e noSchemaError) Is(target error) bool {
	return target == tuples.ErrNoSchema || target == engine.ErrNoSchema
}

// queryError words an error of the engine: a missing schema, or a name of
// refs the schema lacks. Other errors pass unchanged.
func queryError(ctx context.Context, s schemaGetter, err error, refs ...nameRef) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrNoSchema):
		return errNoSchema()
	case errors.Is(err, engine.ErrUnknown):
		if p := headSchema(ctx, s); p != nil {
			if u := undefinedIn(p, refs...); u != nil {
				return u
			}
		}
	}
	return err
}

// storeError words an error of a store's write or import: a missing
// schema, or a relationship naming what the schema lacks (alone or on a
// line of an import). Other errors pass unchanged.
func storeError(ctx context.Context, s schemaGetter, err error) error {
	var ve *tuples.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tuples.ErrNoSchema) && !isRemote():
		return errNoSchema()
	case errors.As(err, &ve):
		return relationshipError(headSchema(ctx, s), err)
	}
	return err
}

// relationshipError words the refusal of a relationship that names what
// the schema lacks (a *tuples.ValidationError, alone or on a line of an
// import), keeping its type so that it has the same exit status.
func relationshipError(p *schema.Program, err error) error {
	var ve *tuples.ValidationError
	if p == nil || !errors.As(err, &ve) {
		return err
	}
	r := ve.Relationship
	u := undefinedIn(p,
		nameRef{typ: r.ResourceType, member: r.Relation, relation: true},
		nameRef{typ: r.SubjectType, member: r.SubjectRelation})
	if u == nil && r.Caveat != nil && p.Caveat(r.Caveat.Name) == nil {
		var names []string
		for _, c := range p.Caveats() {
			names = append(names, c.Name)
		}
		u = fmt.Errorf("caveat %q is not defined in the schema%s", r.Caveat.Name, didYouMean(r.Caveat.Name, names))
	}
	if u == nil {
		return err
	}
	worded := &tuples.ValidationError{Relationship: r, Msg: u.Error()}
	var le *tuples.LineError
	if errors.As(err, &le) {
		return &tuples.LineError{File: le.File, Line: le.Line, Err: worded}
	}
	return worded
}

// filterError checks the names of a filter against the schema in force:
// a filter naming a type or relation the schema lacks selects nothing, and
// is more likely a typo than a question. It is a usage error.
func filterError(p *schema.Program, f tuples.Filter) error {
	if p == nil {
		return nil
	}
	refs := []nameRef{{typ: f.ResourceType, member: f.Relation, relation: true}}
	if f.ResourceType == "" && f.Relation != "" {
		refs = nil // a relation on any type (not expressible in the syntax today)
	}
	if r := p.Lookup(f.ResourceType, f.Relation); r != nil && r.Kind != schema.KindRelation {
		return usagef("%q is a permission of type %q, not a relation: relationships are stored on relations (%s)",
			f.Relation, f.ResourceType, strings.Join(memberNames(p.Definition(f.ResourceType), true), ", "))
	}
	if f.Subject != nil {
		refs = append(refs, nameRef{typ: f.Subject.Type, member: f.Subject.Relation})
	}
	if err := undefinedIn(p, refs...); err != nil {
		return usagef("%v", err)
	}
	return nil
}
