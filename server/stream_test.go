package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

func TestReadRelationshipsWithCursor(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	var want []string
	for i := range 24 {
		want = append(want, fmt.Sprintf("document:d%02d#viewer@user:u%d", i, i%5))
	}
	tok := mustWrite(t, c, want...)
	mustWrite(t, c, "group:eng#member@user:ana") // not matched by the filter
	slices.Sort(want)
	// Written after the read began: never seen by a cursor of the earlier revision.
	filter := &v1.RelationshipFilter{ResourceType: "document", OptionalRelation: "viewer"}

	// Limits that divide the total exactly matter: the last page is full,
	// and the page after it must come back empty.
	for _, limit := range []uint32{0, 1, 5, 6, 24, 1000} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			var cursor *v1.Cursor
			for page := 0; ; page++ {
				require.Less(t, page, 40, "too many pages")
				req := &v1.ReadRelationshipsRequest{
					Consistency:        &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: tok}},
					RelationshipFilter: filter, OptionalLimit: limit, OptionalCursor: cursor,
				}
				st, err := c.ReadRelationships(ctx, req)
				require.NoError(t, err)
				resps, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
				require.NoError(t, err)
				if page == 0 && limit == 5 {
					// Between pages, a write that the cursor's revision must not show.
					mustWrite(t, c, "document:d00#viewer@user:late")
				}
				for _, r := range resps {
					got = append(got, relString(t, r.GetRelationship()))
					require.Equal(t, tok.GetToken(), r.GetReadAt().GetToken())
					require.NotNil(t, r.GetAfterResultCursor())
				}
				if limit == 0 || len(resps) < int(limit) {
					break
				}
				cursor = resps[len(resps)-1].GetAfterResultCursor()
			}
			slices.Sort(got)
			require.Equal(t, want, got)
		})
	}

	// Resuming from the cursor of any result continues right after it.
	st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: tok}}, RelationshipFilter: filter,
	})
	require.NoError(t, err)
	all, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
	require.NoError(t, err)
	for _, i := range []int{0, 7, 22} {
		st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: filter, OptionalLimit: 2, OptionalCursor: all[i].GetAfterResultCursor()})
		require.NoError(t, err)
		rest, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
		require.NoError(t, err)
		require.Len(t, rest, min(2, len(all)-i-1))
		for j, r := range rest {
			require.Equal(t, relString(t, all[i+1+j].GetRelationship()), relString(t, r.GetRelationship()))
		}
	}

	for _, tt := range []struct {
		name   string
		req    *v1.ReadRelationshipsRequest
		code   codes.Code
		reason string
	}{
		{"bad cursor", &v1.ReadRelationshipsRequest{RelationshipFilter: filter, OptionalCursor: &v1.Cursor{Token: "bm9wZQ"}}, codes.FailedPrecondition, "ERROR_REASON_INVALID_CURSOR"},
		{"limit too large", &v1.ReadRelationshipsRequest{RelationshipFilter: filter, OptionalLimit: DefaultMaxReadLimit + 1}, codes.InvalidArgument, "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT"},
		{"empty filter", &v1.ReadRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{}}, codes.InvalidArgument, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.ReadRelationships(ctx, tt.req)
			require.NoError(t, err)
			_, err = recvAll[*v1.ReadRelationshipsResponse](t, st)
			requireStatus(t, err, tt.code, tt.reason)
		})
	}
}

func TestDeleteRelationships(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	var rels []string
	for i := range 10 {
		rels = append(rels, fmt.Sprintf("document:d%d#viewer@user:ana", i))
	}
	mustWrite(t, c, append(rels, "document:d0#owner@user:bo")...)
	viewers := &v1.RelationshipFilter{ResourceType: "document", OptionalRelation: "viewer"}

	// More than the limit match and partial deletion was not allowed.
	_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: viewers, OptionalLimit: 4})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE")
	require.Len(t, readAll(t, c, viewers), 10)

	resp, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: viewers, OptionalLimit: 4, OptionalAllowPartialDeletions: true})
	require.NoError(t, err)
	require.Equal(t, v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL, resp.GetDeletionProgress())
	require.EqualValues(t, 4, resp.GetRelationshipsDeletedCount())
	require.Len(t, readAll(t, c, viewers), 6)

	// A failed precondition deletes nothing.
	_, err = c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
		RelationshipFilter: viewers,
		OptionalPreconditions: []*v1.Precondition{{Operation: v1.Precondition_OPERATION_MUST_MATCH,
			Filter: &v1.RelationshipFilter{ResourceType: "document", OptionalRelation: "owner", OptionalSubjectFilter: &v1.SubjectFilter{SubjectType: "user", OptionalSubjectId: "zed"}}}},
	})
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE")
	require.Len(t, readAll(t, c, viewers), 6)

	resp, err = c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{RelationshipFilter: viewers})
	require.NoError(t, err)
	require.Equal(t, v1.DeleteRelationshipsResponse_DELETION_PROGRESS_COMPLETE, resp.GetDeletionProgress())
	require.EqualValues(t, 6, resp.GetRelationshipsDeletedCount())
	require.Empty(t, readAll(t, c, viewers))
	require.Equal(t, []string{"document:d0#owner@user:bo"}, readAll(t, c, &v1.RelationshipFilter{ResourceType: "document"}))
}

func TestWatch(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	start := mustWriteSchema(t, c, testSchema)
	st, err := c.Watch(ctx, &v1.WatchRequest{OptionalStartCursor: start, OptionalObjectTypes: []string{"document"}})
	require.NoError(t, err)

	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		update(t, v1.RelationshipUpdate_OPERATION_CREATE, "document:d1#owner@user:ana"),
	}})
	require.NoError(t, err)
	mustWrite(t, c, "group:eng#member@user:bo") // filtered out by object type
	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		update(t, v1.RelationshipUpdate_OPERATION_DELETE, "document:d1#owner@user:ana"),
		update(t, v1.RelationshipUpdate_OPERATION_TOUCH, "document:d2#viewer@user:*"),
	}})
	require.NoError(t, err)

	var got []string
	for len(got) < 3 {
		resp, err := st.Recv()
		require.NoError(t, err)
		require.NotEmpty(t, resp.GetChangesThrough().GetToken())
		for _, u := range resp.GetUpdates() {
			got = append(got, u.GetOperation().String()+" "+relString(t, u.GetRelationship()))
		}
	}
	// DESIGN.md: Watch reports a CREATE as TOUCH.
	require.Equal(t, []string{
		"OPERATION_TOUCH document:d1#owner@user:ana",
		"OPERATION_DELETE document:d1#owner@user:ana",
		"OPERATION_TOUCH document:d2#viewer@user:*",
	}, got)
}

func TestBulkImportExport(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)

	imp, err := c.ImportBulkRelationships(ctx)
	require.NoError(t, err)
	var want []string
	for b := range 5 {
		var batch []*v1.Relationship
		for i := range 100 {
			s := fmt.Sprintf("document:b%d-%03d#viewer@user:u%d", b, i, i%7)
			want = append(want, s)
			batch = append(batch, rel(t, s))
		}
		require.NoError(t, imp.Send(&v1.ImportBulkRelationshipsRequest{Relationships: batch}))
	}
	resp, err := imp.CloseAndRecv()
	require.NoError(t, err)
	require.EqualValues(t, 500, resp.GetNumLoaded())
	slices.Sort(want)

	// Export in batches of 64, resuming from a cursor half way.
	export := func(cursor *v1.Cursor, stopAfter int) ([]string, *v1.Cursor) {
		st, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{Consistency: fully(), OptionalLimit: 64, OptionalCursor: cursor})
		require.NoError(t, err)
		var out []string
		var last *v1.Cursor
		for n := 0; stopAfter == 0 || n < stopAfter; n++ {
			r, err := st.Recv()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.LessOrEqual(t, len(r.GetRelationships()), 64)
			for _, pr := range r.GetRelationships() {
				out = append(out, relString(t, pr))
			}
			last = r.GetAfterResultCursor()
		}
		return out, last
	}
	first, cursor := export(nil, 3)
	require.Len(t, first, 3*64)
	rest, _ := export(cursor, 0)
	got := append(first, rest...)
	slices.Sort(got)
	require.Equal(t, want, got)

	// A relationship the schema refuses fails the import.
	imp, err = c.ImportBulkRelationships(ctx)
	require.NoError(t, err)
	require.NoError(t, imp.Send(&v1.ImportBulkRelationshipsRequest{Relationships: []*v1.Relationship{
		{Resource: obj("document", "x"), Relation: "owner", Subject: subj("group", "eng", "")},
	}}))
	_, err = imp.CloseAndRecv()
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_INVALID_SUBJECT_TYPE")
}

func TestHTTPGateway(t *testing.T) {
	ts := startServer(t, testOptions{})
	post := func(path, key, body string) (int, map[string]any) {
		req, err := http.NewRequest(http.MethodPost, "http://"+ts.httpAddr+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	schema, err := json.Marshal(map[string]string{"schema": testSchema})
	require.NoError(t, err)
	code, _ := post("/v1/schema/write", testKey, string(schema))
	require.Equal(t, http.StatusOK, code)
	code, out := post("/v1/relationships/write", testKey, `{"updates":[{"operation":"OPERATION_TOUCH","relationship":{
		"resource":{"objectType":"document","objectId":"d1"},"relation":"viewer",
		"subject":{"object":{"objectType":"user","objectId":"ana"}}}}]}`)
	require.Equal(t, http.StatusOK, code, out)
	check := `{"consistency":{"fullyConsistent":true},"resource":{"objectType":"document","objectId":"d1"},"permission":"view","subject":{"object":{"objectType":"user","objectId":"ana"}}}`
	code, out = post("/v1/permissions/check", testKey, check)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "PERMISSIONSHIP_HAS_PERMISSION", out["permissionship"])

	// The reflection API through the gateway, as SpiceDB's HTTP API.
	code, out = post("/v1/schema/reflectschema", testKey, `{}`)
	require.Equal(t, http.StatusOK, code, out)
	require.Len(t, out["definitions"], 3)
	code, out = post("/v1/schema/diffschema", testKey, `{"comparisonSchema":"definition user {}"}`)
	require.Equal(t, http.StatusOK, code, out)
	require.Len(t, out["diffs"], 2) // group and document removed

	code, out = post("/v1/permissions/check", "", check)
	require.Equal(t, http.StatusUnauthorized, code, out)
	code, out = post("/v1/permissions/check", "wrong", check)
	require.Equal(t, http.StatusForbidden, code, out)
	code, out = post("/v1/permissions/check", testKey, `{"resource":{"objectType":"document","objectId":"d 1"},"permission":"view"}`)
	require.Equal(t, http.StatusBadRequest, code, out)
}

func TestMetrics(t *testing.T) {
	ts := startServer(t, testOptions{})
	mustWriteSchema(t, ts.client, testSchema)
	mustWrite(t, ts.client, "document:d1#viewer@user:ana")
	for range 3 {
		_, err := ts.client.CheckPermission(testCtx(t), &v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")})
		require.NoError(t, err)
	}
	resp, err := http.Get("http://" + ts.metricsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, resp.Body)
	require.NoError(t, err)
	body := buf.String()
	for _, want := range []string{
		`reach_checks_total{result="allowed"} 3`,
		`reach_grpc_requests_total{code="OK",method="authzed.api.v1.PermissionsService/CheckPermission"} 3`,
		`reach_grpc_request_duration_seconds_bucket{method="authzed.api.v1.PermissionsService/CheckPermission"`,
		`reach_relationships_written_total 1`,
		"reach_check_cache_hits_total",
		"reach_head_revision 2",
	} {
		require.Contains(t, body, want)
	}
}

func TestShutdownEndsWatch(t *testing.T) {
	ts := startServer(t, testOptions{})
	mustWriteSchema(t, ts.client, testSchema)
	st, err := ts.client.Watch(testCtx(t), &v1.WatchRequest{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := st.Recv()
		done <- err
	}()
	require.Eventually(t, func() bool { // the stream has started
		var m dto.Metric
		require.NoError(t, ts.metrics.watchers.Write(&m))
		return m.GetGauge().GetValue() == 1
	}, 10*time.Second, time.Millisecond)
	ts.shutdown(nil, nil)
	select {
	case err := <-done:
		requireStatus(t, err, codes.Unavailable, "")
	case <-time.After(10 * time.Second):
		t.Fatal("the watch stream did not end on shutdown")
	}
}
