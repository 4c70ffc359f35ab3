package server

import (
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// Builders of the reflection messages, for the expectations below.

func rDef(name, comment string, rels []*v1.ReflectionRelation, perms ...*v1.ReflectionPermission) *v1.ReflectionDefinition {
	if rels == nil {
		rels = []*v1.ReflectionRelation{}
	}
	if perms == nil {
		perms = []*v1.ReflectionPermission{}
	}
	return &v1.ReflectionDefinition{Name: name, Comment: comment, Relations: rels, Permissions: perms}
}

func rRel(def, name, comment string, types ...*v1.ReflectionTypeReference) *v1.ReflectionRelation {
	if types == nil {
		types = []*v1.ReflectionTypeReference{}
	}
	return &v1.ReflectionRelation{Name: name, Comment: comment, ParentDefinitionName: def, SubjectTypes: types}
}

func rPerm(def, name, comment string) *v1.ReflectionPermission {
	return &v1.ReflectionPermission{Name: name, Comment: comment, ParentDefinitionName: def}
}

func rTerm(typ, caveat string) *v1.ReflectionTypeReference {
	return &v1.ReflectionTypeReference{SubjectDefinitionName: typ, OptionalCaveatName: caveat,
		Typeref: &v1.ReflectionTypeReference_IsTerminalSubject{IsTerminalSubject: true}}
}

func rWild(typ string) *v1.ReflectionTypeReference {
	return &v1.ReflectionTypeReference{SubjectDefinitionName: typ,
		Typeref: &v1.ReflectionTypeReference_IsPublicWildcard{IsPublicWildcard: true}}
}

func rSubRel(typ, rel string) *v1.ReflectionTypeReference {
	return &v1.ReflectionTypeReference{SubjectDefinitionName: typ,
		Typeref: &v1.ReflectionTypeReference_OptionalRelationName{OptionalRelationName: rel}}
}

func rCaveat(name, comment, expr string, params ...*v1.ReflectionCaveatParameter) *v1.ReflectionCaveat {
	if params == nil {
		params = []*v1.ReflectionCaveatParameter{}
	}
	return &v1.ReflectionCaveat{Name: name, Comment: comment, Expression: expr, Parameters: params}
}

func rParam(caveat, name, typ string) *v1.ReflectionCaveatParameter {
	return &v1.ReflectionCaveatParameter{Name: name, Type: typ, ParentCaveatName: caveat}
}

func requireProto(t *testing.T, want, got proto.Message) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("want:\n%s\ngot:\n%s", prototext.Format(want), prototext.Format(got))
	}
}

const reflectSchemaText = `use expiration

/** user is a person */
definition user {}

definition group {
	// member is who belongs
	relation member: user | group#member
}

// only on weekdays
// (two comment lines)
caveat weekday(day string, allowed list<string>) {
	day in allowed
}

definition document {
	relation owner: user with expiration
	relation viewer: user | user:* | group#member | user with weekday

	// who may edit
	permission edit = owner
	permission view = viewer + edit
}
`

// TestReflectSchema follows SpiceDB's ReflectSchema (internal/services/v1/
// schema.go and reflectionapi.go): definitions with their relations (each
// with its subject types: terminal, wildcard or subject relation, with the
// caveat's name; `with expiration` is not shown) and permissions in source
// order, caveats with their parameters sorted by name, every comment as
// written (namespace.GetComments: "// ..." or "/** ... */", lines joined by
// "\n"). Definitions and caveats are listed by name. The filters are name
// prefixes: a definition filter leaves the caveats out and a caveat filter
// the definitions; relation and permission filters need a definition filter
// and exclude each other (InvalidArgument, ERROR_REASON_INVALID_FILTER).
// With no schema, both lists are empty (loadCurrentSchema lists no
// definitions; it is not NotFound).
func TestReflectSchema(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)

	empty, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{})
	require.NoError(t, err)
	require.Empty(t, empty.GetDefinitions())
	require.Empty(t, empty.GetCaveats())
	require.NotEmpty(t, empty.GetReadAt().GetToken())

	written := mustWriteSchema(t, c, reflectSchemaText)
	user := rDef("user", "/** user is a person */", nil)
	group := rDef("group", "", []*v1.ReflectionRelation{
		rRel("group", "member", "// member is who belongs", rTerm("user", ""), rSubRel("group", "member")),
	})
	document := rDef("document", "", []*v1.ReflectionRelation{
		rRel("document", "owner", "", rTerm("user", "")),
		rRel("document", "viewer", "", rTerm("user", ""), rWild("user"), rSubRel("group", "member"), rTerm("user", "weekday")),
	}, rPerm("document", "edit", "// who may edit"), rPerm("document", "view", ""))
	weekday := rCaveat("weekday", "// only on weekdays\n// (two comment lines)", "day in allowed",
		rParam("weekday", "allowed", "list<string>"), rParam("weekday", "day", "string"))

	tests := []struct {
		name    string
		filters []*v1.ReflectionSchemaFilter
		defs    []*v1.ReflectionDefinition
		caveats []*v1.ReflectionCaveat
		code    codes.Code
		reason  string
	}{
		{name: "all", defs: []*v1.ReflectionDefinition{document, group, user}, caveats: []*v1.ReflectionCaveat{weekday}},
		{
			name:    "definition prefix",
			filters: []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "doc"}},
			defs:    []*v1.ReflectionDefinition{document},
		},
		{
			name:    "relation prefix",
			filters: []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "doc", OptionalRelationNameFilter: "vi"}},
			defs: []*v1.ReflectionDefinition{rDef("document", "", []*v1.ReflectionRelation{document.Relations[1]},
				document.Permissions...)},
		},
		{
			name:    "permission prefix",
			filters: []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "document", OptionalPermissionNameFilter: "ed"}},
			defs:    []*v1.ReflectionDefinition{rDef("document", "", document.Relations, document.Permissions[0])},
		},
		{
			name:    "caveat prefix",
			filters: []*v1.ReflectionSchemaFilter{{OptionalCaveatNameFilter: "week"}},
			caveats: []*v1.ReflectionCaveat{weekday},
		},
		{
			name: "two filters",
			filters: []*v1.ReflectionSchemaFilter{
				{OptionalDefinitionNameFilter: "u"}, {OptionalCaveatNameFilter: "nope"},
			},
			defs: []*v1.ReflectionDefinition{user},
		},
		{
			name:    "definition and caveat",
			filters: []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "d", OptionalCaveatNameFilter: "w"}},
			code:    codes.InvalidArgument, reason: "ERROR_REASON_INVALID_FILTER",
		},
		{
			name:    "relation without definition",
			filters: []*v1.ReflectionSchemaFilter{{OptionalRelationNameFilter: "v"}},
			code:    codes.InvalidArgument, reason: "ERROR_REASON_INVALID_FILTER",
		},
		{
			name:    "relation and permission",
			filters: []*v1.ReflectionSchemaFilter{{OptionalDefinitionNameFilter: "d", OptionalRelationNameFilter: "v", OptionalPermissionNameFilter: "v"}},
			code:    codes.InvalidArgument, reason: "ERROR_REASON_INVALID_FILTER",
		},
		{
			name:    "permission without definition",
			filters: []*v1.ReflectionSchemaFilter{{OptionalPermissionNameFilter: "v"}},
			code:    codes.InvalidArgument, reason: "ERROR_REASON_INVALID_FILTER",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{Consistency: fully(), OptionalFilters: tt.filters})
			if tt.code != codes.OK {
				requireStatus(t, err, tt.code, tt.reason)
				return
			}
			require.NoError(t, err)
			if tt.defs == nil {
				tt.defs = []*v1.ReflectionDefinition{}
			}
			if tt.caveats == nil {
				tt.caveats = []*v1.ReflectionCaveat{}
			}
			requireProto(t, &v1.ReflectSchemaResponse{Definitions: tt.defs, Caveats: tt.caveats, ReadAt: written}, resp)
		})
	}

	_, err = c.ReflectSchema(ctx, &v1.ReflectSchemaRequest{Consistency: &v1.Consistency{
		Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: "garbage"}},
	}})
	requireStatus(t, err, codes.InvalidArgument, "")
}

// TestDiffSchema runs the cases of SpiceDB's TestConvertDiff
// (internal/services/v1/reflectionapi_test.go), one per kind of difference,
// through DiffSchema against the schema written: the element reported is
// the comparison schema's for additions and changes and the stored schema's
// for removals; a relation's subject type change carries the relation as it
// is in the comparison schema; a caveat parameter's type change carries the
// previous type. SpiceDB's "permission foo = foo" cases use another
// relation here, as reach refuses a permission that refers to itself.
func TestDiffSchema(t *testing.T) {
	diff := func(d any) *v1.ReflectionSchemaDiff {
		out := &v1.ReflectionSchemaDiff{}
		switch d := d.(type) {
		case *v1.ReflectionSchemaDiff_DefinitionAdded:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_DefinitionRemoved:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_DefinitionDocCommentChanged:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatAdded:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatRemoved:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatDocCommentChanged:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatExprChanged:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatParameterAdded:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatParameterRemoved:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_CaveatParameterTypeChanged:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_RelationAdded:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_RelationRemoved:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_RelationDocCommentChanged:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_RelationSubjectTypeAdded:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_RelationSubjectTypeRemoved:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_PermissionAdded:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_PermissionRemoved:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_PermissionDocCommentChanged:
			out.Diff = d
		case *v1.ReflectionSchemaDiff_PermissionExprChanged:
			out.Diff = d
		default:
			t.Fatalf("unknown diff %T", d)
		}
		return out
	}
	const someCaveat = `caveat some_caveat(someparam int) { someparam < 42 }`
	// reach refuses a caveat parameter the expression does not use (SpiceDB's
	// cases have one), so adding or removing one changes the expression too.
	const twoParamExpr = `someparam < 42 && someparam2 != ""`
	someCaveatRepr := func(comment, expr string) *v1.ReflectionCaveat {
		return rCaveat("some_caveat", comment, expr, rParam("some_caveat", "someparam", "int"))
	}
	tests := []struct {
		name     string
		existing string // "" writes no schema
		compare  string
		want     []any
	}{
		{name: "no diff", existing: `definition user {}`, compare: `definition user {}`},
		{name: "layout only", existing: `definition user {}`, compare: "definition   user {\n}\n"},
		{name: "add namespace", compare: `definition user {}`,
			want: []any{&v1.ReflectionSchemaDiff_DefinitionAdded{DefinitionAdded: rDef("user", "", nil)}}},
		{name: "remove namespace", existing: "definition user {}\ndefinition other {}", compare: `definition other {}`,
			want: []any{&v1.ReflectionSchemaDiff_DefinitionRemoved{DefinitionRemoved: rDef("user", "", nil)}}},
		{name: "change namespace comment", existing: `definition user {}`, compare: "// user has a comment\ndefinition user {}",
			want: []any{&v1.ReflectionSchemaDiff_DefinitionDocCommentChanged{DefinitionDocCommentChanged: rDef("user", "// user has a comment", nil)}}},
		{name: "add caveat", existing: `definition user {}`, compare: "definition user {}\n" + someCaveat,
			want: []any{&v1.ReflectionSchemaDiff_CaveatAdded{CaveatAdded: someCaveatRepr("", "someparam < 42")}}},
		{name: "remove caveat", existing: "definition user {}\n" + someCaveat, compare: `definition user {}`,
			want: []any{&v1.ReflectionSchemaDiff_CaveatRemoved{CaveatRemoved: someCaveatRepr("", "someparam < 42")}}},
		{name: "change caveat comment",
			existing: "definition user {}\n// some_caveat has a comment\n" + someCaveat,
			compare:  "definition user {}\n// some_caveat has b comment\n" + someCaveat,
			want:     []any{&v1.ReflectionSchemaDiff_CaveatDocCommentChanged{CaveatDocCommentChanged: someCaveatRepr("// some_caveat has b comment", "someparam < 42")}}},
		{name: "added relation", existing: `definition user {}`, compare: "definition user {\n relation somerel: user\n}",
			want: []any{&v1.ReflectionSchemaDiff_RelationAdded{RelationAdded: rRel("user", "somerel", "", rTerm("user", ""))}}},
		{name: "removed relation", existing: "definition user {\n relation somerel: user\n}", compare: `definition user {}`,
			want: []any{&v1.ReflectionSchemaDiff_RelationRemoved{RelationRemoved: rRel("user", "somerel", "", rTerm("user", ""))}}},
		{name: "relation type added",
			existing: "definition user {}\ndefinition anon {}\ndefinition resource {\n relation viewer: anon\n}",
			compare:  "definition user {}\ndefinition anon {}\ndefinition resource {\n relation viewer: user | anon\n}",
			want: []any{&v1.ReflectionSchemaDiff_RelationSubjectTypeAdded{RelationSubjectTypeAdded: &v1.ReflectionRelationSubjectTypeChange{
				Relation:           rRel("resource", "viewer", "", rTerm("user", ""), rTerm("anon", "")),
				ChangedSubjectType: rTerm("user", ""),
			}}}},
		{name: "relation type removed",
			existing: "definition user {}\ndefinition anon {}\ndefinition resource {\n relation viewer: anon | user\n}",
			compare:  "definition user {}\ndefinition anon {}\ndefinition resource {\n relation viewer: user\n}",
			want: []any{&v1.ReflectionSchemaDiff_RelationSubjectTypeRemoved{RelationSubjectTypeRemoved: &v1.ReflectionRelationSubjectTypeChange{
				Relation:           rRel("resource", "viewer", "", rTerm("user", "")),
				ChangedSubjectType: rTerm("anon", ""),
			}}}},
		{name: "relation comment changed",
			existing: "definition user {}\ndefinition resource {\n relation viewer: user\n}",
			compare:  "definition user {}\ndefinition resource {\n // viewer has a comment\n relation viewer: user\n}",
			want:     []any{&v1.ReflectionSchemaDiff_RelationDocCommentChanged{RelationDocCommentChanged: rRel("resource", "viewer", "// viewer has a comment", rTerm("user", ""))}}},
		{name: "added permission",
			existing: "definition user {}\ndefinition resource {}",
			compare:  "definition user {}\ndefinition resource {\n permission foo = nil\n}",
			want:     []any{&v1.ReflectionSchemaDiff_PermissionAdded{PermissionAdded: rPerm("resource", "foo", "")}}},
		{name: "removed permission",
			existing: "definition user {}\ndefinition resource {\n permission foo = nil\n}",
			compare:  "definition user {}\ndefinition resource {}",
			want:     []any{&v1.ReflectionSchemaDiff_PermissionRemoved{PermissionRemoved: rPerm("resource", "foo", "")}}},
		{name: "permission comment changed",
			existing: "definition user {}\ndefinition resource {\n // foo has a comment\n permission foo = nil\n}",
			compare:  "definition user {}\ndefinition resource {\n // foo has a new comment\n permission foo = nil\n}",
			want:     []any{&v1.ReflectionSchemaDiff_PermissionDocCommentChanged{PermissionDocCommentChanged: rPerm("resource", "foo", "// foo has a new comment")}}},
		{name: "permission expression changed",
			existing: "definition user {}\ndefinition resource {\n relation bar: user\n permission foo = nil\n}",
			compare:  "definition user {}\ndefinition resource {\n relation bar: user\n permission foo = bar\n}",
			want:     []any{&v1.ReflectionSchemaDiff_PermissionExprChanged{PermissionExprChanged: rPerm("resource", "foo", "")}}},
		{name: "caveat parameter added", existing: "definition user {}\n" + someCaveat,
			compare: "definition user {}\ncaveat some_caveat(someparam int, someparam2 string) { " + twoParamExpr + " }",
			want: []any{
				&v1.ReflectionSchemaDiff_CaveatParameterAdded{CaveatParameterAdded: rParam("some_caveat", "someparam2", "string")},
				&v1.ReflectionSchemaDiff_CaveatExprChanged{CaveatExprChanged: rCaveat("some_caveat", "", twoParamExpr,
					rParam("some_caveat", "someparam", "int"), rParam("some_caveat", "someparam2", "string"))},
			}},
		{name: "caveat parameter removed",
			existing: "definition user {}\ncaveat some_caveat(someparam int, someparam2 string) { " + twoParamExpr + " }",
			compare:  "definition user {}\n" + someCaveat,
			want: []any{
				&v1.ReflectionSchemaDiff_CaveatParameterRemoved{CaveatParameterRemoved: rParam("some_caveat", "someparam2", "string")},
				&v1.ReflectionSchemaDiff_CaveatExprChanged{CaveatExprChanged: someCaveatRepr("", "someparam < 42")},
			}},
		{name: "caveat parameter type changed", existing: "definition user {}\n" + someCaveat,
			compare: "definition user {}\ncaveat some_caveat(someparam uint) { someparam < 42 }",
			want: []any{&v1.ReflectionSchemaDiff_CaveatParameterTypeChanged{CaveatParameterTypeChanged: &v1.ReflectionCaveatParameterTypeChange{
				Parameter: rParam("some_caveat", "someparam", "uint"), PreviousType: "int",
			}}}},
		{name: "caveat expression changes", existing: "definition user {}\n" + someCaveat,
			compare: "definition user {}\ncaveat some_caveat(someparam int) { someparam < 43 }",
			want:    []any{&v1.ReflectionSchemaDiff_CaveatExprChanged{CaveatExprChanged: someCaveatRepr("", "someparam < 43")}}},
		{name: "several, in order",
			existing: "definition bee {}\ndefinition aaa {\n relation rrr: bee\n relation sss: bee\n}",
			compare:  "definition cee {}\ndefinition aaa {\n relation rrr: cee\n permission ppp = nil\n}",
			want: []any{
				&v1.ReflectionSchemaDiff_DefinitionAdded{DefinitionAdded: rDef("cee", "", nil)},
				&v1.ReflectionSchemaDiff_DefinitionRemoved{DefinitionRemoved: rDef("bee", "", nil)},
				&v1.ReflectionSchemaDiff_RelationRemoved{RelationRemoved: rRel("aaa", "sss", "", rTerm("bee", ""))},
				&v1.ReflectionSchemaDiff_PermissionAdded{PermissionAdded: rPerm("aaa", "ppp", "")},
				&v1.ReflectionSchemaDiff_RelationSubjectTypeRemoved{RelationSubjectTypeRemoved: &v1.ReflectionRelationSubjectTypeChange{
					Relation: rRel("aaa", "rrr", "", rTerm("cee", "")), ChangedSubjectType: rTerm("bee", ""),
				}},
				&v1.ReflectionSchemaDiff_RelationSubjectTypeAdded{RelationSubjectTypeAdded: &v1.ReflectionRelationSubjectTypeChange{
					Relation: rRel("aaa", "rrr", "", rTerm("cee", "")), ChangedSubjectType: rTerm("cee", ""),
				}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, testOptions{})
			c := ts.client
			if tt.existing != "" {
				mustWriteSchema(t, c, tt.existing)
			}
			resp, err := c.DiffSchema(testCtx(t), &v1.DiffSchemaRequest{Consistency: fully(), ComparisonSchema: tt.compare})
			require.NoError(t, err)
			require.NotEmpty(t, resp.GetReadAt().GetToken())
			want := &v1.DiffSchemaResponse{Diffs: []*v1.ReflectionSchemaDiff{}, ReadAt: resp.GetReadAt()}
			for _, d := range tt.want {
				want.Diffs = append(want.Diffs, diff(d))
			}
			requireProto(t, want, resp)
		})
	}
}

// TestDiffSchemaErrors: SpiceDB answers a comparison schema its compiler
// refuses with InvalidArgument, ERROR_REASON_SCHEMA_PARSE_ERROR.
func TestDiffSchemaErrors(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	for _, src := range []string{
		"definition user {",
		"definition doc { relation viewer: nobody }",
	} {
		_, err := c.DiffSchema(testCtx(t), &v1.DiffSchemaRequest{ComparisonSchema: src})
		requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_SCHEMA_PARSE_ERROR")
		require.Contains(t, err.Error(), "schema.zed:1:")
	}
}
