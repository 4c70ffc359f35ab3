package server

import (
	"context"
	"net"
	"sync"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// ClientOptions' calls carry the key once, as SpiceDB's clients send it,
// next to the caller's own metadata, with gRPC's plain content type.
func TestClientOptionsHeaders(t *testing.T) {
	var (
		mu  sync.Mutex
		got []metadata.MD
	)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(ss.Context())
		mu.Lock()
		got = append(got, md)
		mu.Unlock()
		var req v1.ReadSchemaRequest
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		return ss.SendMsg(&v1.ReadSchemaResponse{SchemaText: "définition"})
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(l)
	defer srv.Stop()

	call := func(key string, ctx context.Context) metadata.MD {
		t.Helper()
		conn, err := grpc.NewClient(l.Addr().String(), append(ClientOptions(key), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		require.NoError(t, err)
		defer conn.Close()
		var resp v1.ReadSchemaResponse
		require.NoError(t, conn.Invoke(ctx, v1.SchemaService_ReadSchema_FullMethodName, &v1.ReadSchemaRequest{}, &resp))
		require.Equal(t, "définition", resp.GetSchemaText())
		// A stream too.
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, v1.SchemaService_ReadSchema_FullMethodName)
		require.NoError(t, err)
		require.NoError(t, s.SendMsg(&v1.ReadSchemaRequest{}))
		require.NoError(t, s.CloseSend())
		require.NoError(t, s.RecvMsg(&resp))
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, got, 2)
		require.Equal(t, got[0], got[1])
		md := got[0]
		got = nil
		return md
	}
	ctx := testCtx(t)
	md := call("k", ctx)
	require.Equal(t, []string{"Bearer k"}, md.Get("authorization"))
	require.Equal(t, []string{"application/grpc"}, md.Get("content-type"))

	md = call("k", metadata.AppendToOutgoingContext(ctx, "x-one", "1", "authorization", "mine"))
	require.Equal(t, []string{"1"}, md.Get("x-one"))
	require.Equal(t, []string{"mine", "Bearer k"}, md.Get("authorization"))
	md = call("k", metadata.NewOutgoingContext(ctx, metadata.Pairs("x-two", "2")))
	require.Equal(t, []string{"2"}, md.Get("x-two"))
	require.Equal(t, []string{"Bearer k"}, md.Get("authorization"))

	md = call("", ctx)
	require.Empty(t, md.Get("authorization"))
}

// A client with ClientOptions gets what authzed-go's default client gets,
// and the server's answer to a missing or wrong key.
func TestClientOptionsAgainstServer(t *testing.T) {
	ts := startServer(t, testOptions{})
	ctx := testCtx(t)
	reach := ts.dialReach(t, testKey)
	_, err := reach.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema})
	require.NoError(t, err)
	_, err = reach.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{
		{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
			Resource: obj("document", "d1"), Relation: "viewer", Subject: subj("user", "ana", ""),
		}},
	}})
	require.NoError(t, err)
	full := &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	for _, req := range []*v1.CheckPermissionRequest{
		{Consistency: full, Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "ana", "")},
		{Consistency: full, Resource: obj("document", "d1"), Permission: "view", Subject: subj("user", "bob", "")},
	} {
		want, err := ts.client.CheckPermission(ctx, req)
		require.NoError(t, err)
		got, err := reach.CheckPermission(ctx, req)
		require.NoError(t, err)
		require.True(t, proto.Equal(want, got), "%v != %v", got, want)
	}
	rs, err := reach.ReadRelationships(ctx, &v1.ReadRelationshipsRequest{Consistency: full, RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}})
	require.NoError(t, err)
	r, err := rs.Recv()
	require.NoError(t, err)
	require.Equal(t, "d1", r.GetRelationship().GetResource().GetObjectId())

	_, err = ts.dialReach(t, "").ReadSchema(ctx, &v1.ReadSchemaRequest{})
	requireStatus(t, err, codes.Unauthenticated, "")
	_, err = ts.dialReach(t, "wrong").ReadSchema(ctx, &v1.ReadSchemaRequest{})
	requireStatus(t, err, codes.PermissionDenied, "")
}
