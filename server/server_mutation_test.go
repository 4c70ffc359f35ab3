package server

import (
	"fmt"
	"strconv"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/tuples"
)

// Tests written for mutants that survived the rest of the suite
// (internal/mutate/mutants/server.mut names each one).

// Every one of several preshared keys opens the API, not only one of them
// (mutant server-auth-last-key-only); a key not among them is refused.
func TestEveryPresharedKeyAccepted(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{PresharedKeys: []string{"first-key", "second-key"}}})
	for _, key := range []string{"first-key", "second-key"} {
		_, err := ts.dial(t, key).ReadSchema(testCtx(t), &v1.ReadSchemaRequest{})
		requireStatus(t, err, codes.NotFound, "") // no schema yet: the key was accepted
	}
	_, err := ts.dial(t, "third-key").ReadSchema(testCtx(t), &v1.ReadSchemaRequest{})
	requireStatus(t, err, codes.PermissionDenied, "")
}

// A bearer scheme without a token is no key at all: Unauthenticated, as
// SpiceDB answers, not a wrong key (mutant server-auth-empty-token).
func TestEmptyBearerTokenUnauthenticated(t *testing.T) {
	s := &Server{cfg: Config{PresharedKeys: []string{"key"}}}
	for _, v := range []string{"Bearer ", "bearer    ", "Bearer", ""} {
		err := s.checkKey([]string{v})
		require.Equal(t, codes.Unauthenticated, status.Code(err), "authorization %q: %v", v, err)
	}
	require.Equal(t, codes.PermissionDenied, status.Code(s.checkKey([]string{"Bearer nope"})))
	require.NoError(t, s.checkKey([]string{"Bearer key"}))
}

// requireMetadata asserts the metadata of err's ErrorInfo.
func requireMetadata(t *testing.T, err error, want map[string]string) {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			require.Equal(t, want, info.GetMetadata())
			return
		}
	}
	t.Fatalf("no ErrorInfo in %v", err)
}

// CheckBulkPermissions takes up to MaxCheckItems items, and refuses more
// with SpiceDB's reason and metadata (mutant
// server-check-items-limit-off-by-one).
func TestCheckItemsLimit(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{MaxCheckItems: 3}}})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	items := func(n int) []*v1.CheckBulkPermissionsRequestItem {
		out := make([]*v1.CheckBulkPermissionsRequestItem, n)
		for i := range out {
			out[i] = &v1.CheckBulkPermissionsRequestItem{Resource: obj("document", fmt.Sprint("d", i)), Permission: "view", Subject: subj("user", "ana", "")}
		}
		return out
	}
	resp, err := c.CheckBulkPermissions(testCtx(t), &v1.CheckBulkPermissionsRequest{Consistency: fully(), Items: items(3)})
	require.NoError(t, err)
	require.Len(t, resp.GetPairs(), 3)
	_, err = c.CheckBulkPermissions(testCtx(t), &v1.CheckBulkPermissionsRequest{Consistency: fully(), Items: items(4)})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST")
	requireMetadata(t, err, map[string]string{"check_count": "4", "maximum_checks_allowed": "3"})
}

// WriteRelationships refuses more updates than the store takes in one
// batch itself, with SpiceDB's reason and metadata, before the store sees
// them (mutant server-update-count-limit-unchecked).
func TestUpdateCountLimit(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	max := ts.store.MaxBatch()
	var rels []string
	for i := 0; i <= max; i++ {
		rels = append(rels, fmt.Sprintf("document:d%d#viewer@user:ana", i))
	}
	_, err := c.WriteRelationships(testCtx(t), &v1.WriteRelationshipsRequest{Updates: touch(t, rels...)})
	requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST")
	requireMetadata(t, err, map[string]string{"update_count": strconv.Itoa(max + 1), "maximum_updates_allowed": strconv.Itoa(max)})
	_, err = c.WriteRelationships(testCtx(t), &v1.WriteRelationshipsRequest{Updates: touch(t, rels[:max]...)})
	require.NoError(t, err)
}

// A subject reference's optional relation "..." is refused by the
// request's validation (authzed-go's pattern, as in SpiceDB), before any
// handler runs: subjectFromProto's mapping of "..." to the plain subject is
// never reached through the API, which makes mutant
// server-subject-ellipsis-kept equivalent. This pins the reason.
func TestSubjectEllipsisRefusedByValidation(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	_, err := c.CheckPermission(testCtx(t), &v1.CheckPermissionRequest{
		Consistency: fully(), Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "..."),
	})
	requireStatus(t, err, codes.InvalidArgument, "")
	require.Contains(t, status.Convert(err).Message(), "OptionalRelation")
}

// A token newer than the head is refused (OutOfRange) by every call that
// resolves a revision itself, down to the one place no store read would
// refuse it later: a CheckBulkPermissions without items, which answers
// only with the revision it resolved (mutant server-future-token-accepted).
func TestFutureTokenRefusedByBulkWithoutItems(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	written := mustWriteSchema(t, c, testSchema)
	rev, err := tuples.ParseToken(written.GetToken())
	require.NoError(t, err)
	head := uint64(rev)
	at := func(rev uint64) *v1.Consistency {
		return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: revisionToken(rev)}}}
	}
	resp, err := c.CheckBulkPermissions(testCtx(t), &v1.CheckBulkPermissionsRequest{Consistency: at(head)})
	require.NoError(t, err)
	require.Equal(t, revisionToken(head), resp.GetCheckedAt().GetToken())
	_, err = c.CheckBulkPermissions(testCtx(t), &v1.CheckBulkPermissionsRequest{Consistency: at(head + 1)})
	requireStatus(t, err, codes.OutOfRange, "")
}

// A LookupResources page holds at most its limit of resources, exactly
// that many while more remain (mutant server-lookup-limit-one-more: pages
// of limit+1 still covered every resource once, so the paging test passed).
func TestLookupResourcesPageSize(t *testing.T) {
	ts := startServer(t, testOptions{})
	c := ts.client
	mustWriteSchema(t, c, testSchema)
	var rels []string
	for i := range 7 {
		rels = append(rels, fmt.Sprintf("document:d%d#viewer@user:ana", i))
	}
	tok := mustWrite(t, c, rels...)
	for _, limit := range []int{1, 3} {
		var sizes []int
		var cursor *v1.Cursor
		for page := 0; page < 10; page++ {
			st, err := c.LookupResources(testCtx(t), &v1.LookupResourcesRequest{
				Consistency:        &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}},
				ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", ""),
				OptionalLimit: uint32(limit), OptionalCursor: cursor,
			})
			require.NoError(t, err)
			resps, err := recvAll[*v1.LookupResourcesResponse](t, st)
			require.NoError(t, err)
			sizes = append(sizes, len(resps))
			if len(resps) < limit {
				break
			}
			cursor = resps[len(resps)-1].GetAfterResultCursor()
		}
		want := []int{1, 1, 1, 1, 1, 1, 1, 0}
		if limit == 3 {
			want = []int{3, 3, 1}
		}
		require.Equal(t, want, sizes, "limit %d: page sizes", limit)
	}
}
