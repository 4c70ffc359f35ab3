package server

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// This file implements SchemaService's ReflectSchema and DiffSchema as
// SpiceDB's internal/services/v1/schema.go and reflectionapi.go do, over
// reach's compiled schema (schema.Program) and its AST (for the comments as
// written, which SpiceDB reports raw: "// a comment", "/** doc */").
//
// Differences from SpiceDB, all from reach keeping the schema as source
// text rather than compiled protos:
//   - a caveat's expression is the CEL text as written (trimmed), not CEL's
//     canonical rendering, and two expressions differ for DiffSchema when
//     their text differs outside of runs of white space;
//   - the schema reflected is always the latest one (reach keeps no older
//     schema); read_at is the revision the consistency asks for, or the
//     schema's revision when that is later.

// reflected is a schema ready to be reflected or diffed: its Program and
// the raw doc comments of its declarations.
type reflected struct {
	prog *schema.Program
	// docs maps "def", "def#rel" and "caveat:name" to the raw doc comment.
	docs map[string]string
}

// reflectSource compiles src for reflection. An empty source is the empty
// schema.
func reflectSource(name string, src []byte) (*reflected, error) {
	r := &reflected{docs: map[string]string{}}
	if len(strings.TrimSpace(string(src))) == 0 {
		return r, nil
	}
	p, _, err := schema.Compile(name, src)
	if err != nil {
		return nil, err
	}
	r.prog = p
	f, _ := schema.Parse(name, src)
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *schema.DefinitionDecl:
			r.docs[d.Name] = rawDoc(d.Comments.Leading, d.Pos.Line)
			for _, m := range d.Members {
				switch m := m.(type) {
				case *schema.RelationDecl:
					r.docs[d.Name+"#"+m.Name] = rawDoc(m.Comments.Leading, m.Pos.Line)
				case *schema.PermissionDecl:
					r.docs[d.Name+"#"+m.Name] = rawDoc(m.Comments.Leading, m.Pos.Line)
				}
			}
		case *schema.CaveatDecl:
			r.docs["caveat:"+d.Name] = rawDoc(d.Comments.Leading, d.Pos.Line)
		}
	}
	return r, nil
}

// rawDoc is the doc comment of a node on line `line`, as written: the
// comments standing on the lines just above it with no blank line between,
// joined by newlines (SpiceDB joins a node's comments the same way).
func rawDoc(leading []*schema.Comment, line int) string {
	var group []string
	next := line
	for i := len(leading) - 1; i >= 0; i-- {
		c := leading[i]
		text := strings.ReplaceAll(c.Text, "\r\n", "\n")
		if c.Pos.Line+strings.Count(text, "\n")+1 != next {
			break
		}
		group = append([]string{text}, group...)
		next = c.Pos.Line
	}
	return strings.Join(group, "\n")
}

func (r *reflected) definitions() []*schema.Definition {
	if r.prog == nil {
		return nil
	}
	defs := slices.Clone(r.prog.Definitions())
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs
}

func (r *reflected) caveats() []*schema.Caveat {
	if r.prog == nil {
		return nil
	}
	cavs := slices.Clone(r.prog.Caveats())
	sort.Slice(cavs, func(i, j int) bool { return cavs[i].Name < cavs[j].Name })
	return cavs
}

func (r *reflected) definition(name string) *schema.Definition {
	if r.prog == nil {
		return nil
	}
	return r.prog.Definition(name)
}

func (r *reflected) caveat(name string) *schema.Caveat {
	if r.prog == nil {
		return nil
	}
	return r.prog.Caveat(name)
}

// defRepr is SpiceDB's namespaceAPIRepr: relations and permissions in
// source order, each kept only when the filters allow it (nil: all).
func (r *reflected) defRepr(d *schema.Definition, f *schemaFilters) *v1.ReflectionDefinition {
	out := &v1.ReflectionDefinition{
		Name: d.Name, Comment: r.docs[d.Name],
		Relations: []*v1.ReflectionRelation{}, Permissions: []*v1.ReflectionPermission{},
	}
	for _, rel := range d.Relations {
		if rel.Kind == schema.KindPermission {
			if f == nil || f.hasPermission(d.Name, rel.Name) {
				out.Permissions = append(out.Permissions, r.permRepr(rel))
			}
			continue
		}
		if f == nil || f.hasRelation(d.Name, rel.Name) {
			out.Relations = append(out.Relations, r.relRepr(rel))
		}
	}
	return out
}

func (r *reflected) permRepr(rel *schema.Relation) *v1.ReflectionPermission {
	return &v1.ReflectionPermission{Name: rel.Name, Comment: r.docs[rel.Definition+"#"+rel.Name], ParentDefinitionName: rel.Definition}
}

func (r *reflected) relRepr(rel *schema.Relation) *v1.ReflectionRelation {
	out := &v1.ReflectionRelation{
		Name: rel.Name, Comment: r.docs[rel.Definition+"#"+rel.Name], ParentDefinitionName: rel.Definition,
		SubjectTypes: []*v1.ReflectionTypeReference{},
	}
	for _, a := range rel.Allowed {
		out.SubjectTypes = append(out.SubjectTypes, typeRepr(a))
	}
	return out
}

// typeRepr is SpiceDB's typeAPIRepr (which does not show `with
// expiration`).
func typeRepr(a schema.AllowedType) *v1.ReflectionTypeReference {
	out := &v1.ReflectionTypeReference{SubjectDefinitionName: a.Type, OptionalCaveatName: a.Caveat}
	switch {
	case a.Relation != "" && a.Relation != tuples.Ellipsis:
		out.Typeref = &v1.ReflectionTypeReference_OptionalRelationName{OptionalRelationName: a.Relation}
	case a.Wildcard:
		out.Typeref = &v1.ReflectionTypeReference_IsPublicWildcard{IsPublicWildcard: true}
	default:
		out.Typeref = &v1.ReflectionTypeReference_IsTerminalSubject{IsTerminalSubject: true}
	}
	return out
}

// caveatRepr is SpiceDB's caveatAPIRepr: parameters sorted by name.
func (r *reflected) caveatRepr(c *schema.Caveat) *v1.ReflectionCaveat {
	out := &v1.ReflectionCaveat{Name: c.Name, Comment: r.docs["caveat:"+c.Name], Expression: c.Expr, Parameters: []*v1.ReflectionCaveatParameter{}}
	params := slices.Clone(c.Params)
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	for _, p := range params {
		out.Parameters = append(out.Parameters, &v1.ReflectionCaveatParameter{Name: p.Name, Type: p.Type, ParentCaveatName: c.Name})
	}
	return out
}

func caveatParam(c *schema.Caveat, name string) *v1.ReflectionCaveatParameter {
	for _, p := range c.Params {
		if p.Name == name {
			return &v1.ReflectionCaveatParameter{Name: p.Name, Type: p.Type, ParentCaveatName: c.Name}
		}
	}
	return nil
}

// schemaFilters are ReflectSchema's optional filters, with SpiceDB's
// semantics: name prefixes; a definition filter leaves out the caveats and a
// caveat filter the definitions; a relation or permission filter needs a
// definition filter.
type schemaFilters struct{ filters []*v1.ReflectionSchemaFilter }

func newSchemaFilters(filters []*v1.ReflectionSchemaFilter) (*schemaFilters, error) {
	for _, f := range filters {
		bad := ""
		switch {
		case f.GetOptionalDefinitionNameFilter() != "" && f.GetOptionalCaveatNameFilter() != "":
			bad = "cannot filter by both definition and caveat name"
		case f.GetOptionalRelationNameFilter() != "" && f.GetOptionalDefinitionNameFilter() == "":
			bad = "relation name match requires definition name match"
		case f.GetOptionalRelationNameFilter() != "" && f.GetOptionalPermissionNameFilter() != "":
			bad = "cannot filter by both relation and permission name"
		case f.GetOptionalPermissionNameFilter() != "" && f.GetOptionalDefinitionNameFilter() == "":
			bad = "permission name match requires definition name match"
		}
		if bad != "" {
			return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_FILTER,
				map[string]string{"filter": f.String()}, "the relationship filter provided is not valid: %s", bad)
		}
	}
	return &schemaFilters{filters: filters}, nil
}

// any reports whether no filter is given or some filter sets field.
func (sf *schemaFilters) any(field func(*v1.ReflectionSchemaFilter) string) bool {
	if len(sf.filters) == 0 {
		return true
	}
	return slices.ContainsFunc(sf.filters, func(f *v1.ReflectionSchemaFilter) bool { return field(f) != "" })
}

// match reports whether some filter setting field matches (by prefixes)
// name and, when def is set, the definition def; true when no filter sets
// field.
func (sf *schemaFilters) match(field func(*v1.ReflectionSchemaFilter) string, name, def string) bool {
	has := false
	for _, f := range sf.filters {
		if field(f) == "" {
			continue
		}
		has = true
		if strings.HasPrefix(name, field(f)) && (def == "" || strings.HasPrefix(def, f.GetOptionalDefinitionNameFilter())) {
			return true
		}
	}
	return !has
}

func (sf *schemaFilters) hasDefinition(name string) bool {
	return sf.match((*v1.ReflectionSchemaFilter).GetOptionalDefinitionNameFilter, name, "")
}

func (sf *schemaFilters) hasCaveat(name string) bool {
	return sf.match((*v1.ReflectionSchemaFilter).GetOptionalCaveatNameFilter, name, "")
}

func (sf *schemaFilters) hasRelation(def, name string) bool {
	return sf.match((*v1.ReflectionSchemaFilter).GetOptionalRelationNameFilter, name, def)
}

func (sf *schemaFilters) hasPermission(def, name string) bool {
	return sf.match((*v1.ReflectionSchemaFilter).GetOptionalPermissionNameFilter, name, def)
}

// currentSchema loads the schema in force for reflection, with the
// revision to report as read_at.
func (s *Server) currentSchema(ctx context.Context, c *v1.Consistency) (*reflected, tuples.Revision, error) {
	rev, err := s.startRevision(ctx, c)
	if err != nil {
		return nil, 0, err
	}
	name, src, srev, err := s.store.SchemaSource(ctx)
	if err != nil {
		return nil, 0, s.status(ctx, err)
	}
	if srev > rev {
		rev = srev
	}
	if name == "" {
		name = schemaFile
	}
	r, err := reflectSource(name, src)
	if err != nil {
		s.log.ErrorContext(ctx, "stored schema does not compile", "err", err)
		return nil, 0, status.Errorf(codes.Internal, "stored schema does not compile: %s", err)
	}
	return r, rev, nil
}

// ReflectSchema describes the schema in force: its definitions (by name)
// with their relations (and allowed subject types) and permissions (in
// source order), and its caveats (by name) with their parameters (by name),
// each with its doc comment; narrowed by the optional filters. With no
// schema written, both lists are empty (as SpiceDB).
func (x *schemaService) ReflectSchema(ctx context.Context, req *v1.ReflectSchemaRequest) (*v1.ReflectSchemaResponse, error) {
	s := x.s
	filters, err := newSchemaFilters(req.GetOptionalFilters())
	if err != nil {
		return nil, err
	}
	r, rev, err := s.currentSchema(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	out := &v1.ReflectSchemaResponse{Definitions: []*v1.ReflectionDefinition{}, Caveats: []*v1.ReflectionCaveat{}, ReadAt: zedToken(rev)}
	if filters.any((*v1.ReflectionSchemaFilter).GetOptionalDefinitionNameFilter) {
		for _, d := range r.definitions() {
			if filters.hasDefinition(d.Name) {
				out.Definitions = append(out.Definitions, r.defRepr(d, filters))
			}
		}
	}
	if filters.any((*v1.ReflectionSchemaFilter).GetOptionalCaveatNameFilter) {
		for _, c := range r.caveats() {
			if filters.hasCaveat(c.Name) {
				out.Caveats = append(out.Caveats, r.caveatRepr(c))
			}
		}
	}
	return out, nil
}

// DiffSchema compares the schema in force with comparison_schema, with
// SpiceDB's kinds of difference (pkg/diff). SpiceDB lists them in map and
// set order; reach lists them deterministically: definitions added, removed;
// caveats added, removed (each by name); then per changed definition (by
// name) its doc comment, relations removed, added, permissions removed,
// added, changed permissions (expression, then comment), changed relations
// (comment, subject types removed, added); then per changed caveat (by
// name) its comment, parameters removed, added, retyped, and expression. A
// comparison schema that does not compile is InvalidArgument
// (ERROR_REASON_SCHEMA_PARSE_ERROR), as SpiceDB answers its compiler's
// errors.
func (x *schemaService) DiffSchema(ctx context.Context, req *v1.DiffSchemaRequest) (*v1.DiffSchemaResponse, error) {
	s := x.s
	existing, rev, err := s.currentSchema(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	cmp, err := reflectSource(schemaFile, []byte(req.GetComparisonSchema()))
	if err != nil {
		return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_SCHEMA_PARSE_ERROR, nil, "%s", err)
	}
	return &v1.DiffSchemaResponse{Diffs: diffSchemas(existing, cmp), ReadAt: zedToken(rev)}, nil
}

func diffSchemas(old, cur *reflected) []*v1.ReflectionSchemaDiff {
	// The comparison is the schema package's (reach schema diff makes the
	// same one), with the doc comments as written, as SpiceDB reports them.
	docs := func(p *schema.Program, key string) string {
		if p == old.prog {
			return old.docs[key]
		}
		return cur.docs[key]
	}
	diffs := []*v1.ReflectionSchemaDiff{}
	add := func(d *v1.ReflectionSchemaDiff) { diffs = append(diffs, d) }
	for _, c := range schema.DiffWith(old.prog, cur.prog, schema.DiffOptions{Doc: docs}) {
		switch c.Kind {
		case schema.DefinitionAdded:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_DefinitionAdded{DefinitionAdded: cur.defRepr(cur.definition(c.Definition), nil)}})
		case schema.DefinitionRemoved:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_DefinitionRemoved{DefinitionRemoved: old.defRepr(old.definition(c.Definition), nil)}})
		case schema.DefinitionDocCommentChanged:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_DefinitionDocCommentChanged{DefinitionDocCommentChanged: cur.defRepr(cur.definition(c.Definition), nil)}})
		case schema.CaveatAdded:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatAdded{CaveatAdded: cur.caveatRepr(cur.caveat(c.Caveat))}})
		case schema.CaveatRemoved:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatRemoved{CaveatRemoved: old.caveatRepr(old.caveat(c.Caveat))}})
		case schema.CaveatDocCommentChanged:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatDocCommentChanged{CaveatDocCommentChanged: cur.caveatRepr(cur.caveat(c.Caveat))}})
		case schema.CaveatExprChanged:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatExprChanged{CaveatExprChanged: cur.caveatRepr(cur.caveat(c.Caveat))}})
		case schema.CaveatParameterAdded:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatParameterAdded{CaveatParameterAdded: caveatParam(cur.caveat(c.Caveat), c.Parameter)}})
		case schema.CaveatParameterRemoved:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatParameterRemoved{CaveatParameterRemoved: caveatParam(old.caveat(c.Caveat), c.Parameter)}})
		case schema.CaveatParameterTypeChanged:
			add(&v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_CaveatParameterTypeChanged{CaveatParameterTypeChanged: &v1.ReflectionCaveatParameterTypeChange{
				Parameter: caveatParam(cur.caveat(c.Caveat), c.Parameter), PreviousType: c.Old,
			}}})
		default:
			add(memberDiff(old, cur, c))
		}
	}
	return diffs
}

// memberDiff is the API's form of a change to a relation or permission.
func memberDiff(old, cur *reflected, c schema.Change) *v1.ReflectionSchemaDiff {
	member := func(r *reflected) *schema.Relation { return r.definition(c.Definition).Relation(c.Member) }
	switch c.Kind {
	case schema.RelationAdded:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationAdded{RelationAdded: cur.relRepr(member(cur))}}
	case schema.RelationRemoved:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationRemoved{RelationRemoved: old.relRepr(member(old))}}
	case schema.RelationDocCommentChanged:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationDocCommentChanged{RelationDocCommentChanged: cur.relRepr(member(cur))}}
	case schema.RelationSubjectTypeAdded:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationSubjectTypeAdded{RelationSubjectTypeAdded: &v1.ReflectionRelationSubjectTypeChange{
			Relation: cur.relRepr(member(cur)), ChangedSubjectType: typeRepr(*c.SubjectType),
		}}}
	case schema.RelationSubjectTypeRemoved:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_RelationSubjectTypeRemoved{RelationSubjectTypeRemoved: &v1.ReflectionRelationSubjectTypeChange{
			Relation: cur.relRepr(member(cur)), ChangedSubjectType: typeRepr(*c.SubjectType),
		}}}
	case schema.PermissionAdded:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionAdded{PermissionAdded: cur.permRepr(member(cur))}}
	case schema.PermissionRemoved:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionRemoved{PermissionRemoved: old.permRepr(member(old))}}
	case schema.PermissionExprChanged:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionExprChanged{PermissionExprChanged: cur.permRepr(member(cur))}}
	case schema.PermissionDocCommentChanged:
		return &v1.ReflectionSchemaDiff{Diff: &v1.ReflectionSchemaDiff_PermissionDocCommentChanged{PermissionDocCommentChanged: cur.permRepr(member(cur))}}
	}
	panic(fmt.Sprintf("schema change kind %s has no API form", c.Kind))
}
