package server

import (
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// TestImportIsNotCreate pins the documented difference from SpiceDB (see the
// package documentation). SpiceDB's ImportBulkRelationships
// (internal/services/v1/permissions.go) runs the whole stream in one
// ReadWriteTx through BulkLoad, so a relationship that exists already fails
// the call with AlreadyExists and nothing is written. reach's store imports
// with TOUCH semantics (tuples.Store.Import): an existing or repeated
// relationship is replaced, and the call succeeds.
func TestImportIsNotCreate(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	ctx := testCtx(t)
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c, "document:d1#viewer@user:ana")

	imp, err := c.ImportBulkRelationships(ctx)
	require.NoError(t, err)
	require.NoError(t, imp.Send(&v1.ImportBulkRelationshipsRequest{Relationships: []*v1.Relationship{
		rel(t, "document:d1#viewer@user:ana"), // exists: SpiceDB would answer AlreadyExists
		rel(t, "document:d2#viewer@user:bo"),
		rel(t, "document:d2#viewer@user:bo"), // repeated: SpiceDB fails on this too; counted twice here
	}}))
	resp, err := imp.CloseAndRecv()
	require.NoError(t, err)
	require.EqualValues(t, 3, resp.GetNumLoaded())
	require.ElementsMatch(t, []string{"document:d1#viewer@user:ana", "document:d2#viewer@user:bo"},
		readAll(t, c, &v1.RelationshipFilter{ResourceType: "document"}))

	// A fault within one batch writes nothing of it, as in SpiceDB.
	imp, err = c.ImportBulkRelationships(ctx)
	require.NoError(t, err)
	require.NoError(t, imp.Send(&v1.ImportBulkRelationshipsRequest{Relationships: []*v1.Relationship{
		rel(t, "document:d3#viewer@user:cy"),
		{Resource: obj("document", "d4"), Relation: "owner", Subject: subj("group", "eng", "")},
	}}))
	_, err = imp.CloseAndRecv()
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_INVALID_SUBJECT_TYPE")
	require.ElementsMatch(t, []string{"document:d1#viewer@user:ana", "document:d2#viewer@user:bo"},
		readAll(t, c, &v1.RelationshipFilter{ResourceType: "document"}))
}
