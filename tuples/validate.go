package tuples

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
)

// ErrInvalidRelationship is wrapped by every error of ValidateAgainst: the
// relationship does not fit the schema (SpiceDB answers FailedPrecondition).
var ErrInvalidRelationship = errors.New("relationship not allowed by the schema")

// ValidationError says why a relationship does not fit the schema.
type ValidationError struct {
	Relationship Relationship
	Msg          string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("relationship %s: %s", e.Relationship, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalidRelationship) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidRelationship }

// ValidateAgainst checks that r may be written under p: its resource type and
// relation exist and the relation is not a permission; its subject type (and
// subject relation) exist; and the relation allows this subject type with this
// subject relation, wildcard or not, with exactly this caveat (or none) and
// with an expiration only where `with expiration` is allowed. As in SpiceDB, a
// relationship without a caveat needs an allowed type without one, and a
// caveated relationship needs the same type `with` that caveat. The syntax of
// r's fields is checked first (see Relationship.Validate).
func ValidateAgainst(p *schema.Program, r Relationship) error {
	if err := r.Validate(); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return &ValidationError{Relationship: r, Msg: fmt.Sprintf(format, args...)}
	}
	if p == nil {
		return bad("no schema has been written")
	}
	def := p.Definition(r.ResourceType)
	if def == nil {
		return bad("object definition `%s` not found", r.ResourceType)
	}
	rel := def.Relation(r.Relation)
	if rel == nil {
		return bad("relation `%s` not found on `%s`", r.Relation, r.ResourceType)
	}
	if rel.Kind != schema.KindRelation {
		return bad("cannot write a relationship to permission `%s#%s`", r.ResourceType, r.Relation)
	}
	sdef := p.Definition(r.SubjectType)
	if sdef == nil {
		return bad("subject definition `%s` not found", r.SubjectType)
	}
	if r.SubjectRelation != "" && sdef.Relation(r.SubjectRelation) == nil {
		return bad("subject relation `%s` not found on `%s`", r.SubjectRelation, r.SubjectType)
	}
	if r.Caveat != nil {
		c := p.Caveat(r.Caveat.Name)
		if c == nil {
			return bad("caveat `%s` not found", r.Caveat.Name)
		}
		if err := checkCaveatContext(c, r.Caveat.Context); err != nil {
			return bad("caveat `%s`: %v", r.Caveat.Name, err)
		}
	}
	wildcard := r.IsWildcard()
	caveat := ""
	if r.Caveat != nil {
		caveat = r.Caveat.Name
	}
	expiring := r.Expiration != nil
	subject := r.SubjectType
	switch {
	case wildcard:
		subject += ":*"
	case r.SubjectRelation != "":
		subject += "#" + r.SubjectRelation
	}
	var sameSubject []schema.AllowedType
	for _, a := range rel.Allowed {
		if a.Type == r.SubjectType && a.Relation == r.SubjectRelation && a.Wildcard == wildcard {
			if a.Caveat == caveat && a.Expiration == expiring {
				return nil
			}
			sameSubject = append(sameSubject, a)
		}
	}
	if len(sameSubject) == 0 {
		return bad("subjects of type `%s` are not allowed on relation `%s#%s` (allowed: %s)",
			subject, r.ResourceType, r.Relation, allowedList(rel.Allowed))
	}
	var with []string
	for _, a := range sameSubject {
		with = append(with, describeTraits(a.Caveat, a.Expiration))
	}
	return bad("subjects of type `%s` %s are not allowed on relation `%s#%s`, only %s",
		subject, describeTraits(caveat, expiring), r.ResourceType, r.Relation, strings.Join(with, " or "))
}

func describeTraits(caveat string, expiration bool) string {
	switch {
	case caveat != "" && expiration:
		return fmt.Sprintf("with caveat `%s` and expiration", caveat)
	case caveat != "":
		return fmt.Sprintf("with caveat `%s`", caveat)
	case expiration:
		return "with expiration"
	}
	return "without caveat or expiration"
}

func allowedList(as []schema.AllowedType) string {
	if len(as) == 0 {
		return "none"
	}
	parts := make([]string, len(as))
	for i, a := range as {
		s := a.Type
		switch {
		case a.Wildcard:
			s += ":*"
		case a.Relation != "":
			s += "#" + a.Relation
		}
		if a.Caveat != "" {
			s += " with " + a.Caveat
		}
		if a.Expiration {
			if a.Caveat != "" {
				s += " and expiration"
			} else {
				s += " with expiration"
			}
		}
		parts[i] = s
	}
	return strings.Join(parts, " | ")
}

// checkCaveatContext checks the context stored with a caveated relationship
// as SpiceDB does on write: every name must be a parameter of the caveat and
// every value must convert to the parameter's type.
func checkCaveatContext(c *schema.Caveat, ctx map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(ctx)) {
		i := slices.IndexFunc(c.Params, func(p schema.CaveatParam) bool { return p.Name == k })
		if i < 0 {
			return fmt.Errorf("unknown parameter `%s`", k)
		}
		t, err := caveats.ParseType(c.Params[i].Type)
		if err != nil {
			return fmt.Errorf("parameter `%s`: %w", k, err)
		}
		if _, err := t.Convert(ctx[k]); err != nil {
			return fmt.Errorf("could not convert context parameter `%s`: %w", k, err)
		}
	}
	return nil
}
