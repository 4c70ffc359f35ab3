package server

import (
	"slices"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// A caveated relationship whose caveat lacks context is a conditional
// answer naming the missing parameters (SpiceDB's
// partial_caveat_info.missing_required_context); with the context given, the
// caveat is evaluated.
func TestCheckCaveatMissingContext(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, `caveat under(limit int, amount int) { amount < limit }
definition user {}
definition document {
	relation viewer: user with under
	permission view = viewer
}`)
	mustWrite(t, c, `document:d1#viewer@user:ana[under:{"limit":10}]`)

	check := func(context *structpb.Struct) *v1.CheckPermissionResponse {
		t.Helper()
		res, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: fully(), Resource: obj("document", "d1"), Permission: "view",
			Subject: subj("user", "ana", ""), Context: context,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := check(nil)
	if res.GetPermissionship() != v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
		t.Fatalf("without context: %v, want conditional", res.GetPermissionship())
	}
	if got := res.GetPartialCaveatInfo().GetMissingRequiredContext(); !slices.Equal(got, []string{"amount"}) {
		t.Errorf("missing context %v, want [amount]", got)
	}
	for _, tt := range []struct {
		amount float64
		want   v1.CheckPermissionResponse_Permissionship
	}{
		{5, v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION},
		{50, v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION},
	} {
		ctxStruct, err := structpb.NewStruct(map[string]any{"amount": tt.amount})
		if err != nil {
			t.Fatal(err)
		}
		res := check(ctxStruct)
		if res.GetPermissionship() != tt.want {
			t.Errorf("amount %v: %v, want %v", tt.amount, res.GetPermissionship(), tt.want)
		}
		if res.GetPartialCaveatInfo() != nil {
			t.Errorf("amount %v: partial caveat info %v on a definite answer", tt.amount, res.GetPartialCaveatInfo())
		}
	}
}

// Issue 12.8: an int beyond int64 (JSON numbers arrive as floats) is refused,
// in a relationship's caveat context and in a check's, rather than clamped to
// 2^63-1.
func TestCaveatIntOutOfRange(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, `caveat under(limit int, amount int) { amount < limit }
definition user {}
definition document {
	relation viewer: user with under
	permission view = viewer
}`)
	for _, huge := range []float64{99999999999999999999999, 1 << 63} {
		caveatCtx, err := structpb.NewStruct(map[string]any{"limit": huge})
		require.NoError(t, err)
		r := rel(t, "document:d1#viewer@user:ana")
		r.OptionalCaveat = &v1.ContextualizedCaveat{CaveatName: "under", Context: caveatCtx}
		_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
			{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: r},
		}})
		require.Error(t, err, "limit %v", huge)
		require.Contains(t, status.Convert(err).Message(), "out of the range of int")
	}
	mustWrite(t, c, `document:d1#viewer@user:ana[under:{"limit":10}]`)
	for _, huge := range []float64{99999999999999999999999, -(1 << 64), 1 << 63} {
		checkCtx, err := structpb.NewStruct(map[string]any{"amount": huge})
		require.NoError(t, err)
		_, err = c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: fully(), Resource: obj("document", "d1"), Permission: "view",
			Subject: subj("user", "ana", ""), Context: checkCtx,
		})
		requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR")
		require.Contains(t, status.Convert(err).Message(), "out of the range of int")
	}
}

// A caveat that fails at evaluation (here an integer overflow) is the
// request's fault: InvalidArgument with SpiceDB's reason, not Internal.
func TestCaveatEvaluationError(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, `caveat over(a int) { a + 1 > 0 }
definition user {}
definition document {
	relation viewer: user with over
	permission view = viewer
}`)
	mustWrite(t, c, `document:d1#viewer@user:ana[over:{"a":"9223372036854775807"}]`)
	_, err := c.CheckPermission(testCtx(t), &v1.CheckPermissionRequest{
		Consistency: fully(), Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", ""),
	})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_CAVEAT_EVALUATION_ERROR")
}
