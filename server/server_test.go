package server

import (
	"fmt"
	"slices"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/engine"
)

func TestSchemaWriteAndRead(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)

	// SpiceDB answers NotFound before any schema is written.
	_, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	requireStatus(t, err, codes.NotFound, "")

	tok := mustWriteSchema(t, c, testSchema)
	require.NotEmpty(t, tok.GetToken())
	resp, err := c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	require.Equal(t, testSchema, resp.GetSchemaText())
	require.NotEmpty(t, resp.GetReadAt().GetToken())

	tests := []struct {
		name   string
		schema string
		code   codes.Code
		reason string
	}{
		// DESIGN.md: a parse error is InvalidArgument, a type error
		// (undefined type or relation) FailedPrecondition.
		{"syntax error", "definition user {", codes.InvalidArgument, "ERROR_REASON_SCHEMA_PARSE_ERROR"},
		{"unknown type", "definition doc {\n\trelation viewer: nobody\n}", codes.FailedPrecondition, "ERROR_REASON_SCHEMA_TYPE_ERROR"},
		{"unknown relation", "definition user {}\ndefinition doc {\n\tpermission view = nothing\n}", codes.FailedPrecondition, "ERROR_REASON_SCHEMA_TYPE_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: tt.schema})
			requireStatus(t, err, tt.code, tt.reason)
		})
	}

	// Removing a relation that still has relationships is refused
	// (SpiceDB's SchemaWriteDataValidationError: InvalidArgument).
	mustWrite(t, c, "document:d1#banned@user:ana")
	_, err = c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: `definition user {}
definition group {
	relation member: user | group#member
}
definition document {
	relation owner: user
	relation viewer: user | user:* | group#member
	permission edit = owner
	permission view = viewer + edit
}`})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_SCHEMA_TYPE_ERROR")
	resp, err = c.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	require.NoError(t, err)
	require.Equal(t, testSchema, resp.GetSchemaText(), "the refused schema must not be in force")
}

func TestWriteRelationshipsErrors(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)

	// Writing before any schema exists.
	_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: touch(t, "document:d1#owner@user:ana")})
	requireStatus(t, err, codes.FailedPrecondition, "")

	mustWriteSchema(t, c, testSchema)
	create := func(s string) *v1.RelationshipUpdate { return update(t, v1.RelationshipUpdate_OPERATION_CREATE, s) }
	raw := func(op v1.RelationshipUpdate_Operation, rt, rid, rel, st, sid string) *v1.RelationshipUpdate {
		return &v1.RelationshipUpdate{Operation: op, Relationship: &v1.Relationship{Resource: obj(rt, rid), Relation: rel, Subject: subj(st, sid, "")}}
	}
	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{create("document:d1#owner@user:ana")}})
	require.NoError(t, err)

	tests := []struct {
		name    string
		updates []*v1.RelationshipUpdate
		code    codes.Code
		reason  string
	}{
		{"create existing", []*v1.RelationshipUpdate{create("document:d1#owner@user:ana")}, codes.AlreadyExists, "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP"},
		{"create existing fails the batch", []*v1.RelationshipUpdate{create("document:d2#owner@user:bo"), create("document:d1#owner@user:ana")}, codes.AlreadyExists, ""},
		{"unknown resource type", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_TOUCH, "folder", "f1", "owner", "user", "ana")}, codes.FailedPrecondition, "ERROR_REASON_UNKNOWN_DEFINITION"},
		{"unknown relation", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_TOUCH, "document", "d1", "editor", "user", "ana")}, codes.FailedPrecondition, "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION"},
		{"write to a permission", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_TOUCH, "document", "d1", "view", "user", "ana")}, codes.InvalidArgument, "ERROR_REASON_CANNOT_UPDATE_PERMISSION"},
		{"subject type not allowed", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_TOUCH, "document", "d1", "owner", "group", "eng")}, codes.InvalidArgument, "ERROR_REASON_INVALID_SUBJECT_TYPE"},
		{"id with a space", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_TOUCH, "document", "d 1", "owner", "user", "ana")}, codes.InvalidArgument, ""},
		{"empty id", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_TOUCH, "document", "", "owner", "user", "ana")}, codes.InvalidArgument, ""},
		{"no operation", []*v1.RelationshipUpdate{raw(v1.RelationshipUpdate_OPERATION_UNSPECIFIED, "document", "d1", "owner", "user", "ana")}, codes.InvalidArgument, ""},
		{"same relationship twice", touch(t, "document:d3#owner@user:ana", "document:d3#owner@user:ana"), codes.InvalidArgument, "ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: tt.updates})
			requireStatus(t, err, tt.code, tt.reason)
		})
	}
	// Nothing of the failed batches was written.
	got := readAll(t, c, &v1.RelationshipFilter{ResourceType: "document"})
	require.Equal(t, []string{"document:d1#owner@user:ana"}, got)

	// Too many updates in one call.
	var many []string
	for i := range ts.store.MaxBatch() + 1 {
		many = append(many, fmt.Sprintf("document:m%d#owner@user:ana", i))
	}
	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: touch(t, many...)})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST")
}

func TestWritePreconditions(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c, "document:d1#owner@user:ana")

	ownedByAna := &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d1", OptionalRelation: "owner",
		OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "user", OptionalSubjectId: "ana"}}
	ownedByBo := &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "d1", OptionalRelation: "owner",
		OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "user", OptionalSubjectId: "bo"}}
	pre := func(op v1.Precondition_Operation, f *v1.RelationshipFilter) []*v1.Precondition {
		return []*v1.Precondition{{Operation: op, Filter: f}}
	}
	tests := []struct {
		name string
		pre  []*v1.Precondition
		ok   bool
	}{
		{"must match, present", pre(v1.Precondition_OPERATION_MUST_MATCH, ownedByAna), true},
		{"must match, absent", pre(v1.Precondition_OPERATION_MUST_MATCH, ownedByBo), false},
		{"must not match, absent", pre(v1.Precondition_OPERATION_MUST_NOT_MATCH, ownedByBo), true},
		{"must not match, present", pre(v1.Precondition_OPERATION_MUST_NOT_MATCH, ownedByAna), false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fmt.Sprintf("document:p%d#viewer@user:cy", i)
			_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: touch(t, r), OptionalPreconditions: tt.pre})
			if tt.ok {
				require.NoError(t, err)
				require.Contains(t, readAll(t, c, &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: fmt.Sprintf("p%d", i)}), r)
				return
			}
			requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE")
			require.Empty(t, readAll(t, c, &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: fmt.Sprintf("p%d", i)}))
		})
	}
}

func TestCheckConsistencyModes(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	before := mustWrite(t, c, "document:d1#owner@user:bo")
	after := mustWrite(t, c, "document:d1#viewer@user:ana")

	check := func(cons *v1.Consistency) (*v1.CheckPermissionResponse, error) {
		return c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: cons, Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""),
		})
	}
	has := v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
	no := v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION
	tests := []struct {
		name string
		cons *v1.Consistency
		want v1.CheckPermissionResponse_Permissionship
		at   *v1.ZedToken // the revision read, when fixed
	}{
		{"none (minimize_latency)", nil, has, nil},
		{"minimize_latency", &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}, has, nil},
		{"fully_consistent", fully(), has, after},
		{"at_least_as_fresh", &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: after}}, has, after},
		{"at_least_as_fresh older token reads newer", &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: before}}, has, after},
		{"at_exact_snapshot before the write", &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: before}}, no, before},
		{"at_exact_snapshot after the write", &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: after}}, has, after},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := check(tt.cons)
			require.NoError(t, err)
			require.Equal(t, tt.want, resp.GetPermissionship())
			if tt.at != nil {
				require.Equal(t, tt.at.GetToken(), resp.GetCheckedAt().GetToken())
			}
		})
	}

	errs := []struct {
		name string
		cons *v1.Consistency
		code codes.Code
	}{
		{"malformed token", &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: "nonsense!"}}}, codes.InvalidArgument},
		{"token from the future", &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: engineToken(1 << 40)}}}, codes.OutOfRange},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := check(tt.cons)
			requireStatus(t, err, tt.code, "")
		})
	}
}

func TestCheckErrors(t *testing.T) {
	ts := startServer(t, testOptions{engine: engine.Options{MaxDepth: 5}})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	// A chain of nested groups deeper than the depth limit.
	var rels []string
	for i := range 10 {
		rels = append(rels, fmt.Sprintf("group:g%d#member@group:g%d#member", i, i+1))
	}
	rels = append(rels, "group:g10#member@user:ana", "document:d1#viewer@group:g0#member")
	mustWrite(t, c, rels...)

	tests := []struct {
		name   string
		req    *v1.CheckPermissionRequest
		code   codes.Code
		reason string
	}{
		{"unknown type", &v1.CheckPermissionRequest{Resource: obj("folder", "f1"), Permission: "view", Subject: subj("user", "ana", "")}, codes.FailedPrecondition, "ERROR_REASON_UNKNOWN_DEFINITION"},
		{"unknown permission", &v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "destroy", Subject: subj("user", "ana", "")}, codes.FailedPrecondition, "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION"},
		{"max depth", &v1.CheckPermissionRequest{Consistency: fully(), Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")}, codes.FailedPrecondition, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED"},
		{"wildcard subject", &v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "*", "")}, codes.InvalidArgument, ""},
		{"wildcard resource", &v1.CheckPermissionRequest{Resource: obj("document", "*"), Permission: "view", Subject: subj("user", "ana", "")}, codes.InvalidArgument, ""},
		{"malformed id", &v1.CheckPermissionRequest{Resource: obj("document", "d 1"), Permission: "view", Subject: subj("user", "ana", "")}, codes.InvalidArgument, ""},
		{"no resource", &v1.CheckPermissionRequest{Permission: "view", Subject: subj("user", "ana", "")}, codes.InvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CheckPermission(ctx, tt.req)
			requireStatus(t, err, tt.code, tt.reason)
		})
	}
}

func TestCheckBulk(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	tok := mustWrite(t, c,
		"group:eng#member@user:ana",
		"document:d1#viewer@group:eng#member",
		"document:d2#viewer@user:*",
		"document:d2#banned@user:bo",
		"document:d3#owner@user:bo",
	)
	item := func(doc, perm, user string) *v1.CheckBulkPermissionsRequestItem {
		return &v1.CheckBulkPermissionsRequestItem{Resource: obj("document", doc), Permission: perm, Subject: subj("user", user, "")}
	}
	items := []*v1.CheckBulkPermissionsRequestItem{
		item("d1", "view", "ana"), item("d1", "view", "bo"), item("d2", "view", "ana"),
		item("d2", "view", "bo"), item("d3", "edit", "bo"), item("d3", "frobnicate", "bo"),
	}
	resp, err := c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}},
		Items:       items,
	})
	require.NoError(t, err)
	require.Equal(t, tok.GetToken(), resp.GetCheckedAt().GetToken())
	want := []v1.CheckPermissionResponse_Permissionship{
		v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
		v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION,
		v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
		v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION,
		v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION,
	}
	require.Len(t, resp.GetPairs(), len(items))
	for i, w := range want {
		require.Equal(t, w, resp.GetPairs()[i].GetItem().GetPermissionship(), "item %d", i)
		require.Equal(t, items[i].GetPermission(), resp.GetPairs()[i].GetRequest().GetPermission())
	}
	// SpiceDB reports a bad item as that pair's error.
	bad := resp.GetPairs()[5]
	require.Nil(t, bad.GetItem())
	require.Equal(t, int32(codes.FailedPrecondition), bad.GetError().GetCode())

	// All valid: answered in one CheckBulk.
	resp, err = c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: fully(), Items: items[:5]})
	require.NoError(t, err)
	for i, w := range want {
		require.Equal(t, w, resp.GetPairs()[i].GetItem().GetPermissionship(), "item %d", i)
	}

	many := make([]*v1.CheckBulkPermissionsRequestItem, DefaultMaxCheckItems+1)
	for i := range many {
		many[i] = item("d1", "view", "ana")
	}
	_, err = c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Items: many})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST")
}

func TestLookupResourcesWithCursor(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	var rels, want []string
	for i := range 25 {
		id := fmt.Sprintf("doc%02d", i)
		switch i % 3 {
		case 0:
			rels = append(rels, "document:"+id+"#viewer@user:ana")
			want = append(want, id)
		case 1:
			rels = append(rels, "document:"+id+"#viewer@group:eng#member")
			want = append(want, id)
		default:
			rels = append(rels, "document:"+id+"#viewer@user:bo")
		}
	}
	rels = append(rels, "group:eng#member@user:ana", "document:doc00#banned@user:ana")
	want = want[1:] // doc00 is banned
	tok := mustWrite(t, c, rels...)

	for _, limit := range []uint32{0, 1, 4, 16, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			var cursor *v1.Cursor
			for page := 0; ; page++ {
				require.Less(t, page, 30, "too many pages")
				st, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{
					Consistency:        &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}},
					ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", ""),
					OptionalLimit: limit, OptionalCursor: cursor,
				})
				require.NoError(t, err)
				resps, err := recvAll[*v1.LookupResourcesResponse](t, st)
				require.NoError(t, err)
				for _, r := range resps {
					got = append(got, r.GetResourceObjectId())
					require.Equal(t, v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION, r.GetPermissionship())
					require.NotNil(t, r.GetAfterResultCursor())
					require.Equal(t, tok.GetToken(), r.GetLookedUpAt().GetToken())
				}
				if limit == 0 || len(resps) < int(limit) {
					break
				}
				cursor = resps[len(resps)-1].GetAfterResultCursor()
			}
			require.Equal(t, want, got)
		})
	}

	_, err := recvAll[*v1.LookupResourcesResponse](t, must(c.LookupResources(ctx, &v1.LookupResourcesRequest{
		ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", ""),
		OptionalCursor: &v1.Cursor{Token: "garbage"},
	})))
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_INVALID_CURSOR")
	_, err = recvAll[*v1.LookupResourcesResponse](t, must(c.LookupResources(ctx, &v1.LookupResourcesRequest{
		ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", ""), OptionalLimit: DefaultMaxLookupLimit + 1,
	})))
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLookupSubjects(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c,
		"document:d1#viewer@user:*",
		"document:d1#banned@user:bo",
		"document:d1#owner@user:cy",
		"document:d2#viewer@group:eng#member",
		"group:eng#member@user:dee",
		"group:eng#member@user:ana",
	)
	lookup := func(doc string, opt v1.LookupSubjectsRequest_WildcardOption) []string {
		st, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
			Consistency: fully(), Resource: obj("document", doc), Permission: "view", SubjectObjectType: "user", WildcardOption: opt,
		})
		require.NoError(t, err)
		resps, err := recvAll[*v1.LookupSubjectsResponse](t, st)
		require.NoError(t, err)
		var out []string
		for _, r := range resps {
			s := r.GetSubject().GetSubjectObjectId()
			require.Equal(t, s, r.GetSubjectObjectId())
			for _, x := range r.GetExcludedSubjects() {
				s += " -" + x.GetSubjectObjectId()
			}
			out = append(out, s)
		}
		slices.Sort(out)
		return out
	}
	// DESIGN.md: a wildcard is reported as `*` with the excluded subjects
	// listed beside it.
	require.Equal(t, []string{"* -bo", "cy"}, lookup("d1", v1.LookupSubjectsRequest_WILDCARD_OPTION_INCLUDE_WILDCARDS))
	require.Equal(t, []string{"cy"}, lookup("d1", v1.LookupSubjectsRequest_WILDCARD_OPTION_EXCLUDE_WILDCARDS))
	require.Equal(t, []string{"ana", "dee"}, lookup("d2", v1.LookupSubjectsRequest_WILDCARD_OPTION_UNSPECIFIED))

	_, err := recvAll[*v1.LookupSubjectsResponse](t, must(c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
		Resource: obj("document", "d1"), Permission: "nope", SubjectObjectType: "user",
	})))
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION")
}

// TestLookupSubjectsStreams: the server sends each subject as the engine
// finds it. Under a parent chain deeper than the depth limit, the viewer of
// the document itself is found first, then the walk down the chain fails:
// the client gets that subject, then FailedPrecondition (a server that
// collected the subjects before sending any would send the error alone).
func TestLookupSubjectsStreams(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, `definition user {}
definition doc {
	relation parent: doc
	relation viewer: user
	permission view = viewer + parent->view
}`)
	rels := []string{"doc:pc0#viewer@user:v"}
	for i := 0; i < 100; i++ {
		rels = append(rels, fmt.Sprintf("doc:pc%d#parent@doc:pc%d", i, i+1))
	}
	mustWrite(t, c, rels...)
	st, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
		Consistency: fully(), Resource: obj("doc", "pc0"), Permission: "view", SubjectObjectType: "user",
	})
	require.NoError(t, err)
	resps, err := recvAll[*v1.LookupSubjectsResponse](t, st)
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED")
	require.Len(t, resps, 1)
	require.Equal(t, "v", resps[0].GetSubject().GetSubjectObjectId())
	require.NotEmpty(t, resps[0].GetLookedUpAt().GetToken())
}

// TestLookupSubjectsLimitAndCursor follows SpiceDB's LookupSubjects
// (internal/services/v1/permissions.go): `if req.OptionalConcreteLimit != 0`
// it answers Unimplemented "concrete limit is not yet supported", before
// resolving the revision or checking the schema; optional_cursor is not
// looked at, so a request with a cursor and no limit streams every subject,
// none of them with an after_result_cursor.
func TestLookupSubjectsLimitAndCursor(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c, "document:d1#viewer@user:ana", "document:d1#viewer@user:bo", "document:d1#owner@user:cy")
	cursor := &v1.Cursor{Token: "not-a-cursor-reach-ever-made"}
	tests := []struct {
		name   string
		limit  uint32
		cursor *v1.Cursor
		perm   string
		want   []string
		code   codes.Code
	}{
		{name: "limit", limit: 1, perm: "view", code: codes.Unimplemented},
		{name: "limit and cursor", limit: 2, cursor: cursor, perm: "view", code: codes.Unimplemented},
		// The limit is refused before the permission is looked up.
		{name: "limit on unknown permission", limit: 1, perm: "nope", code: codes.Unimplemented},
		{name: "cursor is ignored", cursor: cursor, perm: "view", want: []string{"ana", "bo", "cy"}},
		{name: "no limit", perm: "view", want: []string{"ana", "bo", "cy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
				Consistency: fully(), Resource: obj("document", "d1"), Permission: tt.perm, SubjectObjectType: "user",
				OptionalConcreteLimit: tt.limit, OptionalCursor: tt.cursor,
			})
			require.NoError(t, err)
			resps, err := recvAll[*v1.LookupSubjectsResponse](t, st)
			if tt.code != codes.OK {
				requireStatus(t, err, tt.code, "")
				require.Contains(t, status.Convert(err).Message(), "concrete limit is not yet supported")
				return
			}
			require.NoError(t, err)
			var got []string
			for _, r := range resps {
				require.Nil(t, r.GetAfterResultCursor())
				got = append(got, r.GetSubject().GetSubjectObjectId())
			}
			slices.Sort(got)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestExpand(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c, "document:d1#owner@user:ana", "document:d1#viewer@group:eng#member")
	resp, err := c.ExpandPermissionTree(testCtx(t), &v1.ExpandPermissionTreeRequest{Consistency: fully(), Resource: obj("document", "d1"), Permission: "view"})
	require.NoError(t, err)
	root := resp.GetTreeRoot()
	require.Equal(t, "view", root.GetExpandedRelation())
	require.Equal(t, "d1", root.GetExpandedObject().GetObjectId())
	require.Equal(t, v1.AlgebraicSubjectSet_OPERATION_EXCLUSION, root.GetIntermediate().GetOperation())
	// Collect every leaf subject of the tree.
	var subjects []string
	var walk func(*v1.PermissionRelationshipTree)
	walk = func(n *v1.PermissionRelationshipTree) {
		for _, s := range n.GetLeaf().GetSubjects() {
			name := s.GetObject().GetObjectType() + ":" + s.GetObject().GetObjectId()
			if s.GetOptionalRelation() != "" {
				name += "#" + s.GetOptionalRelation()
			}
			subjects = append(subjects, name)
		}
		for _, ch := range n.GetIntermediate().GetChildren() {
			walk(ch)
		}
	}
	walk(root)
	slices.Sort(subjects)
	require.Equal(t, []string{"group:eng#member", "user:ana"}, subjects)
}

func TestAuthentication(t *testing.T) {
	ts := startServer(t, testOptions{})
	mustWriteSchema(t, ts.client, testSchema)
	valid := &v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")}
	invalid := &v1.CheckPermissionRequest{Resource: obj("document", "d 1"), Permission: "view"}
	tests := []struct {
		name string
		key  string
		req  *v1.CheckPermissionRequest
		code codes.Code
	}{
		{"right key", testKey, valid, codes.OK},
		{"no key", "", valid, codes.Unauthenticated},
		// DESIGN.md: a wrong key is PermissionDenied (as SpiceDB answers).
		{"wrong key", "not-the-key", valid, codes.PermissionDenied},
		// The key is checked before the request is validated.
		{"no key, invalid request", "", invalid, codes.Unauthenticated},
		{"wrong key, invalid request", "not-the-key", invalid, codes.PermissionDenied},
		{"right key, invalid request", testKey, invalid, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t, tt.key)
			_, err := c.CheckPermission(testCtx(t), tt.req)
			if tt.code == codes.OK {
				require.NoError(t, err)
				return
			}
			requireStatus(t, err, tt.code, "")
			if tt.code == codes.InvalidArgument {
				return
			}
			// Every kind of call is guarded: a write, a stream, the schema.
			_, err = c.WriteSchema(testCtx(t), &v1.WriteSchemaRequest{Schema: "definition user {}"})
			requireStatus(t, err, tt.code, "")
			st, err := c.ReadRelationships(testCtx(t), &v1.ReadRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
			require.NoError(t, err)
			_, err = recvAll[*v1.ReadRelationshipsResponse](t, st)
			requireStatus(t, err, tt.code, "")
		})
	}

	// The health service answers without a key.
	conn, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	h, err := healthpb.NewHealthClient(conn).Check(testCtx(t), &healthpb.HealthCheckRequest{Service: "authzed.api.v1.PermissionsService"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())
}

func TestNewRequiresKey(t *testing.T) {
	_, err := New(nil, nil, Config{})
	require.Error(t, err)
	_, err = New(nil, nil, Config{PresharedKeys: []string{""}})
	require.Error(t, err)
}

// engineToken makes the token of an arbitrary revision.
func engineToken(rev uint64) string {
	return revisionToken(rev)
}
