package server

import (
	"context"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// handleCheck answers as the generated handler would: through the
// interceptor (with the call's own request and deadline), without one,
// and a plain request that an interceptor might pass on instead.
func TestHandleCheck(t *testing.T) {
	s, req := apiServer(t)
	p := newPermissionsService(s)
	ctx := testCtx(t)
	want, err := p.CheckPermission(ctx, req(1))
	require.NoError(t, err)
	dec := func(m *v1.CheckPermissionRequest) func(any) error {
		return func(v any) error {
			b, err := m.MarshalVT()
			require.NoError(t, err)
			c := v.(*checkCall)
			return unmarshalCheckInto(&c.CheckPermissionRequest, b, &c.parts)
		}
	}
	same := func(resp any) {
		t.Helper()
		r, ok := resp.(*checkReply)
		require.True(t, ok, "%T", resp)
		require.True(t, proto.Equal(want, &r.CheckPermissionResponse), "%v != %v", &r.CheckPermissionResponse, want)
		require.Same(t, &r.tok, r.CheckedAt)
	}

	resp, err := handleCheck(p, ctx, dec(req(1)), nil)
	require.NoError(t, err)
	same(resp)

	var seen any
	var deadline *deadlineCtx
	resp, err = handleCheck(p, ctx, dec(req(1)), func(ctx context.Context, r any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		require.Equal(t, v1.PermissionsService_CheckPermission_FullMethodName, info.FullMethod)
		require.Same(t, p, info.Server)
		seen = r
		ctx, deadline = withDeadlineIn(&r.(*checkCall).deadline, ctx, time.Now().Add(time.Second))
		return h(ctx, r)
	})
	require.NoError(t, err)
	same(resp)
	require.Same(t, &seen.(*checkCall).deadline, deadline)
	msg, dl := callParts(seen)
	require.Same(t, &seen.(*checkCall).CheckPermissionRequest, msg)
	require.Same(t, deadline, dl)

	resp, err = handleCheck(p, ctx, dec(req(1)), func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req(1))
	})
	require.NoError(t, err)
	require.True(t, proto.Equal(want, resp.(*v1.CheckPermissionResponse)))

	// Through the server's interceptor, a fault is the call's.
	resp, err = handleCheck(p, ctx, dec(&v1.CheckPermissionRequest{Resource: obj("document", "d1"), Permission: "view"}), s.unaryInterceptor)
	requireStatus(t, err, codes.Unauthenticated, "")
	require.Nil(t, resp)
}

// withDeadlineIn makes its context in the storage given, unless the
// parent's deadline comes first.
func TestWithDeadlineIn(t *testing.T) {
	var c deadlineCtx
	at := time.Now().Add(time.Hour)
	ctx, got := withDeadlineIn(&c, context.Background(), at)
	require.Same(t, &c, got)
	require.Same(t, &c, ctx.(*deadlineCtx))
	dl, ok := ctx.Deadline()
	require.True(t, ok)
	require.Equal(t, at, dl)
	got.cancel()
	require.ErrorIs(t, ctx.Err(), context.Canceled)

	early, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var d deadlineCtx
	ctx, got = withDeadlineIn(&d, early, at)
	require.Nil(t, got)
	require.Equal(t, early, ctx)
	require.Nil(t, d.Context)
}
