package server

import (
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// Issue 12.8: a cursor or token naming revision 0 read the head.
//
// Our reading: revision 0 is the empty store, before any write (the schema
// included). A cursor follows a result, and revision 0 has none, so a cursor
// naming it was not made by this server; it is refused like any cursor the
// server did not make (FailedPrecondition, ERROR_REASON_INVALID_CURSOR).
// Reading it at the head instead would hand out data the cursor never named.
// A zedtoken naming revision 0 is a snapshot like any other: at_exact_snapshot
// reads at revision 0 and so finds nothing (or OutOfRange once revision 0 has
// been garbage-collected), as SpiceDB reads an exact token at its snapshot,
// never at the head.
func TestRevisionZero(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	mustWrite(t, c, "document:d1#viewer@user:ana", "document:d2#viewer@user:ana")
	ctx := testCtx(t)
	filter := &v1.RelationshipFilter{ResourceType: "document"}
	const invalidCursor = "ERROR_REASON_INVALID_CURSOR"

	for _, cur := range []pageCursor{{Revision: 0}, {Revision: 0, Skip: 1}} {
		st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: filter, OptionalCursor: cur.encode()})
		require.NoError(t, err)
		got, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
		requireStatus(t, err, codes.FailedPrecondition, invalidCursor)
		require.Empty(t, got)

		ex, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{OptionalCursor: cur.encode()})
		require.NoError(t, err)
		exported, err := recvAll[*v1.ExportBulkRelationshipsResponse](t, ex)
		requireStatus(t, err, codes.FailedPrecondition, invalidCursor)
		require.Empty(t, exported)
	}

	lr, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{
		ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", ""),
		OptionalCursor: lookupCursor{Revision: 0, After: "d0"}.encode(),
	})
	require.NoError(t, err)
	found, err := recvAll[*v1.LookupResourcesResponse](t, lr)
	requireStatus(t, err, codes.FailedPrecondition, invalidCursor)
	require.Empty(t, found)

	zero := &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: revisionToken(0)}}}
	st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: filter, Consistency: zero})
	require.NoError(t, err)
	got, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
	require.NoError(t, err)
	require.Empty(t, got, "revision 0 holds nothing")

	ex, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{Consistency: zero})
	require.NoError(t, err)
	exported, err := recvAll[*v1.ExportBulkRelationshipsResponse](t, ex)
	require.NoError(t, err)
	require.Empty(t, exported, "revision 0 holds nothing")

	// The cursors the server hands out still continue.
	st, err = c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: filter, Consistency: fully(), OptionalLimit: 1})
	require.NoError(t, err)
	first, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
	require.NoError(t, err)
	require.Len(t, first, 1)
	st, err = c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: filter, OptionalCursor: first[0].GetAfterResultCursor()})
	require.NoError(t, err)
	rest, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
	require.NoError(t, err)
	require.Len(t, rest, 1)
}
