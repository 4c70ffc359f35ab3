//go:build !race

package server

import (
	"fmt"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// checkRoundTripBudget bounds the allocations of one CheckPermission round
// trip with reach's client (BenchmarkCheckPermission/client=reach: both
// ends and gRPC's transport, 137 with gRPC 1.85 and Go 1.26), with a
// little room. Over it, something that cut them came undone (the fixed
// flow-control windows are 12, the key as metadata on the client 5,
// checkCall 6 and decodeCheck 4 on the server); see the benchmark's
// profile (-memprofile, pprof -sample_index=alloc_objects). A new gRPC
// may move the baseline: measure before raising it.
const checkRoundTripBudget = 140

func TestCheckRoundTripAllocs(t *testing.T) {
	ts := startServer(t, testOptions{})
	ctx := testCtx(t)
	c := ts.dialReach(t, testKey)
	_, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
			Resource: obj("document", "d1"), Relation: "viewer", Subject: subj("user", "ana", ""),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]*v1.CheckPermissionRequest, 10)
	for i := range reqs {
		reqs[i] = &v1.CheckPermissionRequest{Resource: obj("document", fmt.Sprintf("d%d", i)), Permission: "view", Subject: subj("user", "ana", "")}
	}
	i := 0
	check := func() {
		if _, err := c.CheckPermission(t.Context(), reqs[i%len(reqs)]); err != nil {
			t.Fatal(err)
		}
		i++
	}
	for range 2 * len(reqs) { // warm: the connection, the check cache
		check()
	}
	if n := testing.AllocsPerRun(500, check); n > checkRoundTripBudget {
		t.Errorf("a check round trip allocates %.1f objects, over its budget of %d", n, checkRoundTripBudget)
	} else {
		t.Logf("a check round trip allocates %.1f objects (budget %d)", n, checkRoundTripBudget)
	}
}
