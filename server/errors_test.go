package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestBoundMessage(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct{ in, want string }{
		{"short", "short"},
		{"unknown type `" + long + "`", "unknown type `" + strings.Repeat("x", maxQuoted-1) + "…"},
		{"a " + strings.Repeat("é", 150) + " b", "a " + strings.Repeat("é", maxQuoted) + "… b"},
		{strings.Repeat("word ", 30), strings.Repeat("word ", 30)}, // long, but no long run
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, boundMessage(tt.in))
	}
	// Many short runs: the whole is cut.
	got := boundMessage(strings.Repeat("word ", 10000))
	require.LessOrEqual(t, len(got), maxMessage+len("word …"))
	require.True(t, strings.HasSuffix(got, "…"))
	require.True(t, utf8.ValidString(got))
}

// Issue 12.8: an error quotes at most a bounded prefix of the input at
// fault. Before, a 2 MiB token or caveat value came back whole in the
// message, which gRPC sends in a header: past the client's header limit the
// client dropped the connection (Unavailable) instead of seeing the error.
func TestErrorsQuoteABoundedPrefix(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, `caveat ipc(ip ipaddress) { ip.in_cidr('10.0.0.0/8') }
definition user {}
definition document {
	relation viewer: user | user with ipc
	permission view = viewer
}`)
	mustWrite(t, c, `document:d1#viewer@user:ana[ipc]`)
	huge := strings.Repeat("a", 2<<20)
	prefix := strings.Repeat("a", 50)
	bounded := func(t *testing.T, err error) {
		t.Helper()
		requireStatus(t, err, codes.InvalidArgument, "")
		msg := status.Convert(err).Message()
		require.Less(t, len(msg), 2<<10, "message of %d bytes", len(msg))
		require.Contains(t, msg, prefix+"…", "the message quotes no prefix of the input")
	}
	hugeCtx, err := structpb.NewStruct(map[string]any{"ip": huge})
	require.NoError(t, err)

	t.Run("token", func(t *testing.T) {
		_, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: huge}}},
			Resource:    obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""),
		})
		bounded(t, err)
	})
	t.Run("watch start", func(t *testing.T) {
		w, err := c.Watch(ctx, &v1.WatchRequest{OptionalStartCursor: &v1.ZedToken{Token: huge}})
		require.NoError(t, err)
		_, err = w.Recv()
		bounded(t, err)
	})
	t.Run("check context", func(t *testing.T) {
		_, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: fully(), Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""),
			Context: hugeCtx,
		})
		bounded(t, err)
	})
	t.Run("relationship context", func(t *testing.T) {
		r := rel(t, "document:d1#viewer@user:bob")
		r.OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: "ipc", Context: hugeCtx}
		_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r},
		}})
		bounded(t, err)
	})
	t.Run("schema", func(t *testing.T) {
		_, err := c.DiffSchema(ctx, &v1.DiffSchemaRequest{ComparisonSchema: "definition user { relation r: " + huge + " }"})
		bounded(t, err)
	})
	t.Run("bulk check item", func(t *testing.T) {
		resp, err := c.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: fully(), Items: []*v1.CheckBulkPermissionsRequestItem{
			{Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""), Context: hugeCtx},
		}})
		if err == nil { // the item's error, in a response that echoes the request
			require.Len(t, resp.GetPairs(), 1)
			err = status.ErrorProto(resp.GetPairs()[0].GetError())
		}
		bounded(t, err)
	})
	t.Run("http", func(t *testing.T) {
		body, err := json.Marshal(map[string]any{
			"consistency": map[string]any{"atLeastAsFresh": map[string]string{"token": huge}},
			"resource":    map[string]string{"objectType": "document", "objectId": "d1"}, "permission": "view",
			"subject": map[string]any{"object": map[string]string{"objectType": "user", "objectId": "ana"}},
		})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, "http://"+ts.httpAddr+"/v1/permissions/check", strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		var out struct{ Message string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Less(t, len(out.Message), 2<<10)
		require.Contains(t, out.Message, prefix+"…")
	})
}
