package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	"github.com/authzed/authzed-go/pkg/responsemeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
)

const debugSchema = `caveat on_net(ip string, net string) {
	ip == net
}

definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation viewer: user | group#member | user with on_net
	relation banned: user
	permission view = viewer - banned
}
`

var debugData = []string{
	"group:eng#member@user:ana",
	"document:d1#viewer@group:eng#member",
	"document:d1#banned@user:bo",
	"group:eng#member@user:bo",
	`document:d1#viewer@user:eve[on_net:{"net":"10.0.0.1"}]`,
}

func debugServer(t *testing.T) *testServer {
	t.Helper()
	ts := startServer(t, testOptions{})
	mustWriteSchema(t, ts.client, debugSchema)
	mustWrite(t, ts.client, debugData...)
	return ts
}

func checkReq(subject string, caveatCtx map[string]any, tracing bool) *v1.CheckPermissionRequest {
	typ, id, _ := strings.Cut(subject, ":")
	r := &v1.CheckPermissionRequest{
		Consistency: fully(), Resource: obj("document", "d1"), Permission: "view",
		Subject: subj(typ, id, ""), WithTracing: tracing,
	}
	if caveatCtx != nil {
		st, err := structpb.NewStruct(caveatCtx)
		if err != nil {
			panic(err)
		}
		r.Context = st
	}
	return r
}

// localTree is the engine's own explanation of the check, as the CLI
// prints it.
func localTree(t *testing.T, ts *testServer, subject string, caveatCtx map[string]any) string {
	t.Helper()
	s, err := engine.ParseSubject(subject)
	require.NoError(t, err)
	res, err := ts.eng.Check(testCtx(t), engine.CheckRequest{
		Resource: engine.Object{Type: "document", ID: "d1"}, Permission: "view", Subject: s,
		Consistency: engine.Consistency{Mode: engine.FullyConsistent}, Context: caveatCtx, Explain: true,
	})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, res.Explanation.WriteTree(&b))
	return b.String()
}

func traceTree(t *testing.T, info *v1.DebugInformation) string {
	t.Helper()
	x, err := v1conv.TraceToExplanation(info.GetCheck())
	require.NoError(t, err)
	require.NotNil(t, x, "no trace")
	var b strings.Builder
	require.NoError(t, x.WriteTree(&b))
	return b.String()
}

// Issue 15: with_tracing fills debug_trace with the engine's explanation,
// for allowed, denied and conditional checks, with the schema used.
func TestCheckWithTracing(t *testing.T) {
	ts := debugServer(t)
	for _, tt := range []struct {
		subject string
		ctx     map[string]any
		want    v1.CheckDebugTrace_Permissionship
	}{
		{"user:ana", nil, v1.CheckDebugTrace_PERMISSIONSHIP_HAS_PERMISSION},
		{"user:bo", nil, v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION},
		{"user:zed", nil, v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION},
		{"user:eve", nil, v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION},
		{"user:eve", map[string]any{"ip": "10.0.0.1"}, v1.CheckDebugTrace_PERMISSIONSHIP_HAS_PERMISSION},
		{"user:eve", map[string]any{"ip": "10.0.0.2"}, v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION},
	} {
		t.Run(tt.subject, func(t *testing.T) {
			resp, err := ts.client.CheckPermission(testCtx(t), checkReq(tt.subject, tt.ctx, true))
			require.NoError(t, err)
			info := resp.GetDebugTrace()
			require.NotNil(t, info.GetCheck())
			root := info.GetCheck()
			require.Equal(t, tt.want, root.GetResult())
			require.Equal(t, "document", root.GetResource().GetObjectType())
			require.Equal(t, "d1", root.GetResource().GetObjectId())
			require.Equal(t, "view", root.GetPermission())
			require.Equal(t, v1.CheckDebugTrace_PERMISSION_TYPE_PERMISSION, root.GetPermissionType())
			require.Equal(t, tt.subject, root.GetSubject().GetObject().GetObjectType()+":"+root.GetSubject().GetObject().GetObjectId())
			require.NotNil(t, root.GetDuration())
			require.NotEmpty(t, root.GetSubProblems().GetTraces())
			require.NoError(t, root.Validate())
			require.Contains(t, info.GetSchemaUsed(), "caveat on_net")
			require.Equal(t, localTree(t, ts, tt.subject, tt.ctx), traceTree(t, info))
		})
	}

	// Without tracing there is none.
	resp, err := ts.client.CheckPermission(testCtx(t), checkReq("user:ana", nil, false))
	require.NoError(t, err)
	require.Nil(t, resp.GetDebugTrace())
}

// findNode is the first node of the trace (depth first) for which f holds.
func findNode(n *v1.CheckDebugTrace, f func(*v1.CheckDebugTrace) bool) *v1.CheckDebugTrace {
	if f(n) {
		return n
	}
	for _, s := range n.GetSubProblems().GetTraces() {
		if m := findNode(s, f); m != nil {
			return m
		}
	}
	return nil
}

// Issue 15: caveats appear in the trace: the relationship's caveat with its
// expression, result and context, and the context a conditional answer
// lacks on every conditional node.
func TestTraceCaveats(t *testing.T) {
	ts := debugServer(t)
	caveated := func(n *v1.CheckDebugTrace) bool {
		return n.GetSource() == "reach:relationship" && n.GetPermission() == `viewer@user:eve[on_net:{"net":"10.0.0.1"}]`
	}
	for _, tt := range []struct {
		name    string
		ctx     map[string]any
		result  v1.CaveatEvalInfo_Result
		context map[string]any
	}{
		{"missing", nil, v1.CaveatEvalInfo_RESULT_MISSING_SOME_CONTEXT, map[string]any{"net": "10.0.0.1"}},
		{"true", map[string]any{"ip": "10.0.0.1"}, v1.CaveatEvalInfo_RESULT_TRUE, map[string]any{"ip": "10.0.0.1", "net": "10.0.0.1"}},
		{"false", map[string]any{"ip": "10.0.0.2", "other": 1}, v1.CaveatEvalInfo_RESULT_FALSE, map[string]any{"ip": "10.0.0.2", "net": "10.0.0.1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ts.client.CheckPermission(testCtx(t), checkReq("user:eve", tt.ctx, true))
			require.NoError(t, err)
			root := resp.GetDebugTrace().GetCheck()
			n := findNode(root, caveated)
			require.NotNil(t, n, "no node for the caveated relationship")
			info := n.GetCaveatEvaluationInfo()
			require.Equal(t, "on_net", info.GetCaveatName())
			require.Equal(t, "ip == net", info.GetExpression())
			require.Equal(t, tt.result, info.GetResult())
			require.Equal(t, tt.context, info.GetContext().AsMap())
			if tt.result != v1.CaveatEvalInfo_RESULT_MISSING_SOME_CONTEXT {
				return
			}
			require.Equal(t, []string{"ip"}, info.GetPartialCaveatInfo().GetMissingRequiredContext())
			// Every conditional node says what is missing (zed reads it).
			for _, m := range []*v1.CheckDebugTrace{root, root.GetSubProblems().GetTraces()[0]} {
				require.Equal(t, v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION, m.GetResult())
				require.Equal(t, []string{"ip"}, m.GetCaveatEvaluationInfo().GetPartialCaveatInfo().GetMissingRequiredContext())
			}
		})
	}
}

// Issue 15: SpiceDB's older request header io.spicedb.requestdebuginfo asks
// for the trace too. SpiceDB (since 1.30) answers it in the response;
// before, in the trailer io.spicedb.respmeta.debuginfo as JSON, which is
// what a client that sends the header without with_tracing reads: it gets
// both. A client that sets with_tracing (zed sends both) gets no trailer,
// as from SpiceDB today.
func TestDebugHeader(t *testing.T) {
	ts := debugServer(t)
	ctx := requestmeta.AddRequestHeaders(testCtx(t), requestmeta.RequestDebugInformation)
	var trailer metadata.MD
	resp, err := ts.client.CheckPermission(ctx, checkReq("user:ana", nil, false), grpc.Trailer(&trailer))
	require.NoError(t, err)
	require.NotNil(t, resp.GetDebugTrace().GetCheck())
	found, err := responsemeta.GetResponseTrailerMetadataOrNil(trailer, responsemeta.DebugInformation)
	require.NoError(t, err)
	require.NotNil(t, found, "no debug trailer")
	var fromTrailer v1.DebugInformation
	require.NoError(t, protojson.Unmarshal([]byte(*found), &fromTrailer))
	require.True(t, proto.Equal(resp.GetDebugTrace(), &fromTrailer), "the trailer differs from the response")

	trailer = nil
	resp, err = ts.client.CheckPermission(ctx, checkReq("user:ana", nil, true), grpc.Trailer(&trailer))
	require.NoError(t, err)
	require.NotNil(t, resp.GetDebugTrace().GetCheck())
	require.Empty(t, trailer.Get(string(responsemeta.DebugInformation)))

	trailer = nil
	_, err = ts.client.CheckPermission(testCtx(t), checkReq("user:ana", nil, false), grpc.Trailer(&trailer))
	require.NoError(t, err)
	require.Empty(t, trailer.Get(string(responsemeta.DebugInformation)))
}

// Issue 15: over HTTP, "withTracing": true returns a filled debugTrace.
func TestHTTPWithTracing(t *testing.T) {
	ts := debugServer(t)
	body := `{"consistency":{"fullyConsistent":true},"resource":{"objectType":"document","objectId":"d1"},"permission":"view","subject":{"object":{"objectType":"user","objectId":"ana"}},"withTracing":true}`
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, "http://"+ts.httpAddr+"/v1/permissions/check", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	var out struct {
		DebugTrace json.RawMessage `json:"debugTrace"`
	}
	require.NoError(t, json.Unmarshal(raw, &out))
	require.NotEqual(t, "null", string(bytes.TrimSpace(out.DebugTrace)), "debugTrace is null")
	var info v1.DebugInformation
	require.NoError(t, protojson.Unmarshal(out.DebugTrace, &info))
	require.Equal(t, v1.CheckDebugTrace_PERMISSIONSHIP_HAS_PERMISSION, info.GetCheck().GetResult())
	require.Equal(t, localTree(t, ts, "user:ana", nil), traceTree(t, &info))
}

// CheckBulkPermissions with with_tracing explains every item.
func TestBulkWithTracing(t *testing.T) {
	ts := debugServer(t)
	var items []*v1.CheckBulkPermissionsRequestItem
	for _, s := range []string{"user:ana", "user:bo", "user:eve"} {
		r := checkReq(s, nil, false)
		items = append(items, &v1.CheckBulkPermissionsRequestItem{Resource: r.Resource, Permission: r.Permission, Subject: r.Subject})
	}
	// An item at fault (an unknown permission) sends the call item by item.
	bad := &v1.CheckBulkPermissionsRequestItem{Resource: obj("document", "d1"), Permission: "nosuch", Subject: subj("user", "ana", "")}
	for _, withBad := range []bool{false, true} {
		req := &v1.CheckBulkPermissionsRequest{Consistency: fully(), Items: items, WithTracing: true}
		if withBad {
			req.Items = append(append([]*v1.CheckBulkPermissionsRequestItem{}, items...), bad)
		}
		resp, err := ts.client.CheckBulkPermissions(testCtx(t), req)
		require.NoError(t, err)
		for i, s := range []string{"user:ana", "user:bo", "user:eve"} {
			info := resp.GetPairs()[i].GetItem().GetDebugTrace()
			require.NotNil(t, info.GetCheck(), "%s (with a bad item: %v)", s, withBad)
			require.Equal(t, localTree(t, ts, s, nil), traceTree(t, info))
		}
	}
	resp, err := ts.client.CheckBulkPermissions(testCtx(t), &v1.CheckBulkPermissionsRequest{Consistency: fully(), Items: items})
	require.NoError(t, err)
	require.Nil(t, resp.GetPairs()[0].GetItem().GetDebugTrace())
}
