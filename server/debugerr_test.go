package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
)

// A check that fails explains itself in its error, as SpiceDB's does.
//
// SpiceDB, as read in github.com/authzed/spicedb (main, Aug 2026):
//
//   - internal/services/v1/permissions.go, CheckPermission: when the
//     request sets with_tracing or sends the header io.spicedb.requestdebuginfo
//     and the check fails with an error that carries the dispatcher's debug
//     information, the information is converted to the API's
//     DebugInformation (the trace and schema_used) and added with
//     spiceerrors.AppendDetailsMetadata(err, DebugTraceErrorDetailsKey,
//     converted.String()).
//   - pkg/spiceerrors/details_metadata.go: DebugTraceErrorDetailsKey is
//     "debug_trace_proto_text", "the proto text of a DebugInformation
//     message"; AppendDetailsMetadata sets it in the metadata of the
//     status's ErrorInfo (code, message and other details kept).
//   - internal/graph/check.go, ConcurrentChecker.Check: with debugging on,
//     every dispatch level puts its debug node, with the failed
//     sub-dispatch's node as its sub-problem, into the error's details
//     (spiceerrors.WithReplacedDetails), but only for an error that is a
//     gRPC status: internal/dispatch/errors.go's MaxDepthExceededError
//     (FailedPrecondition, ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED: a cycle of
//     subject sets or a chain deeper than the limit), and the other
//     dispatch errors with a status (a wildcard subject, caveat type
//     errors). The nodes of such a trace have no result: the converter
//     (internal/services/v1/debug.go, convertCheckTrace) sends them as
//     NO_PERMISSION.
//   - internal/services/v1/permissions_test.go,
//     TestCheckPermissionWithDebugInfoInError: a cycle of three documents,
//     the header only, FailedPrecondition, and the metadata value parses
//     with prototext.Unmarshal into a DebugInformation whose check has one
//     sub-problem with one sub-problem.
//   - Caveats are evaluated after the dispatch (internal/graph/computed/
//     computecheck.go, computeCaveatedCheckResult), so a caveat evaluation
//     error carries no dispatch information; permissions.go passes the
//     full trace to shared.RewriteError (ConfigForErrors.DebugTrace), which
//     means to add it with spiceerrors.WithAdditionalDetails, but no error
//     type implements the interface that takes (the method takes a string
//     key, the interface a MetadataKey, since commit 103663ef0, Aug 2024):
//     SpiceDB sends such an error without a trace. reach's engine
//     evaluates caveats during the walk, so its caveat failure is like a
//     dispatch failure and carries the trace up to the relationship whose
//     caveat failed, under the same key: what SpiceDB's ConfigForErrors
//     sets out to do.
//
// zed (github.com/authzed/zed, internal/commands/permission.go,
// checkCmdFunc): on an error, it reads the first ErrorInfo's
// debug_trace_proto_text with prototext.Unmarshal (an unparsable value is
// the command's error), prints the trace with --explain
// (internal/printers/debug.go, DisplayCheckTrace with hasError: nodes in a
// cycle marked "!", the repeated one "(cycle)"), then returns the error.
// Without the key it falls back to the trailer and warns "No debugging
// information returned for the check".
//
// reach differs in what fails: a cycle of subject sets is cut and answers
// denied (with a cycle step in the trace of the response), so the failures
// are a walk deeper than the limit, an exclusion that depends on itself
// (ErrNegativeCycle, answered as MAXIMUM_DEPTH_EXCEEDED, which is what
// SpiceDB's recursion ends in there) and a caveat that cannot be
// evaluated.

const failSchema = `caveat over(a int) { a + 1 > 0 }

definition user {}

definition doc {
	relation parent: doc
	relation viewer: user | user with over
	permission view = viewer + parent->view
}

definition neg {
	relation parent: neg
	relation viewer: user
	permission view = viewer - parent->view
}
`

func failServer(t *testing.T) *testServer {
	t.Helper()
	ts := startServer(t, testOptions{engine: engine.Options{MaxDepth: 5}})
	mustWriteSchema(t, ts.client, failSchema)
	var rels []string
	for i := range 10 {
		rels = append(rels, fmt.Sprintf("doc:c%d#parent@doc:c%d", i, i+1))
	}
	rels = append(rels, "doc:c10#viewer@user:u",
		"neg:a#parent@neg:b", "neg:b#parent@neg:a", "neg:a#viewer@user:u", "neg:b#viewer@user:u",
		"doc:k#parent@doc:k2",
		`doc:k2#viewer@user:ana[over:{"a":"9223372036854775807"}]`,
		"doc:p#viewer@user:bob[over]")
	mustWrite(t, ts.client, rels...)
	return ts
}

// failContext is the caveat context failReq gives a check of user:bob:
// an int parameter that is not a number.
var failContext = map[string]any{"a": "not a number"}

func failReq(check string) *v1.CheckPermissionRequest {
	res, sub, _ := strings.Cut(check, "@")
	o, perm, _ := strings.Cut(res, "#")
	typ, id, _ := strings.Cut(o, ":")
	styp, sid, _ := strings.Cut(sub, ":")
	r := &v1.CheckPermissionRequest{Consistency: fully(), Resource: obj(typ, id), Permission: perm, Subject: subj(styp, sid, "")}
	if sub == "user:bob" {
		st, err := structpb.NewStruct(failContext)
		if err != nil {
			panic(err)
		}
		r.Context = st
	}
	return r
}

// errorInfo is the first ErrorInfo of err's status.
func errorInfo(t *testing.T, err error) *errdetails.ErrorInfo {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
	return nil
}

// localFailure is the engine's own explanation of the failed check, as
// the CLI prints it.
func localFailure(t *testing.T, ts *testServer, check string) string {
	t.Helper()
	r := failReq(check)
	_, err := ts.eng.Check(testCtx(t), engine.CheckRequest{
		Resource: objectFromProto(r.GetResource()), Permission: r.GetPermission(), Subject: subjectFromProto(r.GetSubject()),
		Consistency: engine.Consistency{Mode: engine.FullyConsistent}, Explain: true, Context: contextFromProto(r.GetContext()),
	})
	var xe *engine.ExplainedError
	require.True(t, errors.As(err, &xe), "no explained error: %v", err)
	var b strings.Builder
	require.NoError(t, xe.Explanation.WriteTree(&b))
	return b.String()
}

func TestCheckFailureTrace(t *testing.T) {
	ts := failServer(t)
	for _, tt := range []struct {
		name, check string
		code        codes.Code
		reason      string
		// The failed node where the check failed: its source and
		// resource#permission.
		source, at string
	}{
		{"max depth", "doc:c0#view@user:u", codes.FailedPrecondition, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED",
			"reach:relation:failed", "doc:c4#viewer"},
		{"negative cycle", "neg:a#view@user:u", codes.FailedPrecondition, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED",
			"reach:exclusion:failed", "neg:b#exclusion"},
		{"caveat", "doc:k#view@user:ana", codes.InvalidArgument, "ERROR_REASON_CAVEAT_EVALUATION_ERROR",
			"reach:relationship:failed", `doc:k2#viewer@user:ana[over:{"a":"9223372036854775807"}]`},
		// The request's context does not convert to the caveat's
		// parameter (request fields are given below).
		{"caveat context", "doc:p#view@user:bob", codes.InvalidArgument, "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR",
			"reach:relationship:failed", "doc:p#viewer@user:bob[over]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Without tracing: the error as before, nothing attached.
			_, plain := ts.client.CheckPermission(testCtx(t), failReq(tt.check))
			requireStatus(t, plain, tt.code, tt.reason)
			require.NotContains(t, errorInfo(t, plain).GetMetadata(), v1conv.DebugTraceErrorDetailsKey)
			di, err := v1conv.DebugInformationFromError(plain)
			require.NoError(t, err)
			require.Nil(t, di)

			withTracing := failReq(tt.check)
			withTracing.WithTracing = true
			header := requestmeta.AddRequestHeaders(testCtx(t), requestmeta.RequestDebugInformation)
			for _, way := range []struct {
				name string
				ctx  context.Context
				req  *v1.CheckPermissionRequest
			}{
				{"with_tracing", testCtx(t), withTracing},
				{"header", header, failReq(tt.check)},
			} {
				t.Run(way.name, func(t *testing.T) {
					_, err := ts.client.CheckPermission(way.ctx, way.req)
					requireStatus(t, err, tt.code, tt.reason)
					// The same status, but for the trace in the metadata.
					st, pst := status.Convert(err), status.Convert(plain)
					require.Equal(t, pst.Message(), st.Message())
					info := errorInfo(t, err)
					text, ok := info.GetMetadata()[v1conv.DebugTraceErrorDetailsKey]
					require.True(t, ok, "no %s in %v", v1conv.DebugTraceErrorDetailsKey, info.GetMetadata())
					trimmed := proto.Clone(info).(*errdetails.ErrorInfo)
					delete(trimmed.Metadata, v1conv.DebugTraceErrorDetailsKey)
					require.True(t, proto.Equal(errorInfo(t, plain), trimmed), "the ErrorInfo differs: %v", trimmed)

					// As zed reads it.
					var debug v1.DebugInformation
					require.NoError(t, prototext.Unmarshal([]byte(text), &debug))
					require.Contains(t, debug.GetSchemaUsed(), "definition neg")
					root := debug.GetCheck()
					require.NotNil(t, root)
					res, _, _ := strings.Cut(tt.check, "#")
					perm, _, _ := strings.Cut(strings.TrimPrefix(tt.check, res+"#"), "@")
					require.Equal(t, res, root.GetResource().GetObjectType()+":"+root.GetResource().GetObjectId())
					require.Equal(t, perm, root.GetPermission())
					require.Equal(t, "reach:permission:failed", root.GetSource())
					require.Equal(t, v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION, root.GetResult())
					require.NotNil(t, root.GetDuration())

					// The failed nodes make one path from the root down to
					// where the check failed; every node is valid.
					var last *v1.CheckDebugTrace
					for n := root; n != nil; {
						require.NoError(t, n.Validate())
						last = n
						var next *v1.CheckDebugTrace
						for _, s := range n.GetSubProblems().GetTraces() {
							require.NoError(t, s.Validate())
							if strings.HasSuffix(s.GetSource(), v1conv.FailedSuffix) {
								require.Nil(t, next, "two failed sub-problems under %s", n.GetSource())
								next = s
							}
						}
						n = next
					}
					require.Equal(t, tt.source, last.GetSource())
					require.Equal(t, tt.at, last.GetResource().GetObjectType()+":"+last.GetResource().GetObjectId()+"#"+last.GetPermission())
					if strings.HasPrefix(tt.name, "caveat") {
						ce := last.GetCaveatEvaluationInfo()
						require.Equal(t, "over", ce.GetCaveatName())
						require.Equal(t, "a + 1 > 0", ce.GetExpression())
						require.Equal(t, v1.CaveatEvalInfo_RESULT_UNEVALUATED, ce.GetResult())
					}

					// Read back, the engine's own explanation of the failure.
					got, err := v1conv.DebugInformationFromError(err)
					require.NoError(t, err)
					require.Equal(t, localFailure(t, ts, tt.check), traceTree(t, got))
				})
			}
		})
	}
}

// An error the check meets before its walk (an unknown permission) has no
// explanation: nothing is attached, tracing or not.
func TestCheckFailureNoTraceBeforeWalk(t *testing.T) {
	ts := failServer(t)
	req := failReq("doc:c0#nosuch@user:u")
	req.WithTracing = true
	_, err := ts.client.CheckPermission(testCtx(t), req)
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION")
	require.NotContains(t, errorInfo(t, err).GetMetadata(), v1conv.DebugTraceErrorDetailsKey)
}

// A trace past maxDebugErrorBytes keeps only the failed steps; one still
// past it is left out, and the error goes as it is.
func TestCheckFailureTraceBound(t *testing.T) {
	ts := failServer(t)
	req := failReq("doc:c0#view@user:u")
	req.WithTracing = true
	_, err := ts.client.CheckPermission(testCtx(t), req)
	full := errorInfo(t, err).GetMetadata()[v1conv.DebugTraceErrorDetailsKey]
	require.NotEmpty(t, full)

	defer func(max int) { maxDebugErrorBytes = max }(maxDebugErrorBytes)
	// The failed path is 19 of the 27 steps (the denied viewer of c0 to c3
	// and their missing relationships left out); the text's length varies
	// by a few bytes (the duration).
	maxDebugErrorBytes = len(full) * 85 / 100
	_, err = ts.client.CheckPermission(testCtx(t), req)
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED")
	debug, derr := v1conv.DebugInformationFromError(err)
	require.NoError(t, derr)
	require.NotNil(t, debug, "no trimmed trace")
	nodes := 0
	for n := debug.GetCheck(); n != nil; {
		nodes++
		require.True(t, strings.HasSuffix(n.GetSource(), v1conv.FailedSuffix), "a step that did not fail: %s", n.GetSource())
		subs := n.GetSubProblems().GetTraces()
		require.LessOrEqual(t, len(subs), 1, "%s", prototext.Format(n))
		n = nil
		if len(subs) == 1 {
			n = subs[0]
		}
	}
	// doc:c0#view down to doc:c4#viewer: permission, union, arrow,
	// relationship for each of c0 to c3, then c4's permission, union and
	// viewer.
	require.Equal(t, 4*4+3, nodes)

	maxDebugErrorBytes = 10
	_, err = ts.client.CheckPermission(testCtx(t), req)
	requireStatus(t, err, codes.FailedPrecondition, "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED")
	require.NotContains(t, errorInfo(t, err).GetMetadata(), v1conv.DebugTraceErrorDetailsKey)
}
