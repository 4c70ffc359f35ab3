package server

import (
	"slices"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
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
