package server

import (
	"context"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/reach-authz/reach/tuples"
)

// storeWrite writes a schema and relationships straight to the store, for
// servers whose request timeout leaves no time for API calls.
func storeWrite(t *testing.T, st *tuples.Store, schemaSrc string, rels ...string) {
	t.Helper()
	ctx := testCtx(t)
	if schemaSrc != "" {
		_, _, err := st.WriteSchema(ctx, "schema.zed", []byte(schemaSrc))
		require.NoError(t, err)
	}
	if len(rels) == 0 {
		return
	}
	var ups []tuples.Update
	for _, s := range rels {
		r, err := tuples.Parse(s)
		require.NoError(t, err)
		ups = append(ups, tuples.Update{Op: tuples.Touch, Relationship: r})
	}
	_, err := st.Write(ctx, ups)
	require.NoError(t, err)
}

// Issue 12: every request is bounded by the request timeout, streams too,
// but Watch, which lasts until the client or the server ends it.
func TestStreamsGetTheRequestTimeout(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{RequestTimeout: time.Nanosecond}}})
	storeWrite(t, ts.store, testSchema, "document:d1#viewer@user:ana", "document:d2#viewer@user:ana")
	c := ts.client
	ctx := testCtx(t)

	streams := map[string]func() error{
		"ReadRelationships": func() error {
			st, err := c.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
			require.NoError(t, err)
			_, err = recvAll[*v1.ReadRelationshipsResponse](t, st)
			return err
		},
		"LookupResources": func() error {
			st, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{ResourceObjectType: "document", Permission: "view", Subject: subj("user", "ana", "")})
			require.NoError(t, err)
			_, err = recvAll[*v1.LookupResourcesResponse](t, st)
			return err
		},
		"LookupSubjects": func() error {
			st, err := c.LookupSubjects(ctx, &v1.LookupSubjectsRequest{Resource: obj("document", "d1"), Permission: "view", SubjectObjectType: "user"})
			require.NoError(t, err)
			_, err = recvAll[*v1.LookupSubjectsResponse](t, st)
			return err
		},
		"ImportBulkRelationships": func() error {
			st, err := c.ImportBulkRelationships(ctx)
			require.NoError(t, err)
			_ = st.Send(&v1.ImportBulkRelationshipsRequest{Relationships: []*v1.Relationship{rel(t, "document:d3#viewer@user:bob")}})
			_, err = st.CloseAndRecv()
			return err
		},
	}
	for name, call := range streams {
		t.Run(name, func(t *testing.T) {
			requireStatus(t, call(), codes.DeadlineExceeded, "")
		})
	}

	// The export of a whole store is spared: its length grows with the data,
	// and the client's deadline bounds it.
	ex, err := c.ExportBulkRelationships(ctx, &v1.ExportBulkRelationshipsRequest{})
	require.NoError(t, err)
	_, err = recvAll[*v1.ExportBulkRelationshipsResponse](t, ex)
	require.NoError(t, err)

	// Watch is spared.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.Watch(wctx, &v1.WatchRequest{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return watchers(t, ts) == 1 }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	storeWrite(t, ts.store, "", "document:d1#viewer@user:bob")
	resp, err := w.Recv()
	require.NoError(t, err)
	require.Len(t, resp.GetUpdates(), 1)
}

// A client that stops sending in the middle of a client stream does not
// hold it past the request timeout.
func TestStalledImportEnds(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{RequestTimeout: 300 * time.Millisecond}}})
	storeWrite(t, ts.store, testSchema)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	st, err := ts.client.ImportBulkRelationships(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Send(&v1.ImportBulkRelationshipsRequest{Relationships: []*v1.Relationship{rel(t, "document:d1#viewer@user:ana")}}))
	// No more, and no CloseSend: wait for the server's answer.
	err = st.RecvMsg(&v1.ImportBulkRelationshipsResponse{})
	requireStatus(t, err, codes.DeadlineExceeded, "")
	require.Less(t, time.Since(start), 5*time.Second, "the stream ended on the client's deadline, not the server's")
}

// The stream interceptor gives every stream of every registered service a
// deadline, but the long-lived watches.
func TestStreamInterceptorDeadlines(t *testing.T) {
	const timeout = time.Hour
	srv, err := New(nil, nil, Config{InsecureNoAuth: true, Limits: Limits{RequestTimeout: timeout}})
	require.NoError(t, err)
	n := 0
	for name, svc := range srv.GRPCServer().GetServiceInfo() {
		for _, m := range svc.Methods {
			if !m.IsClientStream && !m.IsServerStream {
				continue
			}
			n++
			method := "/" + name + "/" + m.Name
			info := &grpc.StreamServerInfo{FullMethod: method, IsClientStream: m.IsClientStream, IsServerStream: m.IsServerStream}
			var deadline time.Time
			var has bool
			err := srv.streamInterceptor(nil, fakeStream{}, info, func(_ any, ss grpc.ServerStream) error {
				deadline, has = ss.Context().Deadline()
				return nil
			})
			require.NoError(t, err)
			if longLived[method] {
				require.False(t, has, "%s has a deadline", method)
				continue
			}
			require.True(t, has, "%s has no deadline", method)
			require.WithinDuration(t, time.Now().Add(timeout), deadline, time.Minute, method)
		}
	}
	require.GreaterOrEqual(t, n, 7) // 5 of PermissionsService, 2 watches
}

// fakeStream is a server stream that carries nothing.
type fakeStream struct{ grpc.ServerStream }

func (fakeStream) Context() context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.MD{})
}

// watchers is the number of watch streams open.
func watchers(t *testing.T, ts *testServer) int {
	t.Helper()
	var m dto.Metric
	require.NoError(t, ts.metrics.watchers.Write(&m))
	return int(m.GetGauge().GetValue())
}
