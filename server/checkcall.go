package server

import (
	"context"
	"slices"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// CheckPermission, the call the API serves most, allocates on the server
// what it needs in one allocation, a checkCall, where the generated
// handler, the interceptor and the handler would make six: the request and
// the messages it holds, the description of the call and the closure given
// to the interceptor, the deadline, and the response with its token.

// checkCall is a CheckPermission call. It is the request (it embeds it,
// and so is a proto.Message for gRPC's stats handlers), and holds what
// the codec decodes its messages into (unmarshalCheckInto), the storage of
// its deadline (withDeadlineIn) and its response. handleCheck makes it and
// gives it to the interceptor as the request, which finds them there.
type checkCall struct {
	v1.CheckPermissionRequest
	parts    checkParts
	deadline deadlineCtx
	reply    checkReply
}

// checkReply is a CheckPermissionResponse (embedded: gRPC sends it as
// one), its token, and the one-buffer slice the codec encodes it into
// (codec.Marshal), once.
type checkReply struct {
	v1.CheckPermissionResponse
	tok v1.ZedToken
	out [1]mem.Buffer
}

// permissionsDesc is PermissionsService's description, CheckPermission
// served by handleCheck instead of the generated handler.
var permissionsDesc = func() grpc.ServiceDesc {
	d := v1.PermissionsService_ServiceDesc
	d.Methods = slices.Clone(d.Methods)
	for i := range d.Methods {
		if d.Methods[i].MethodName == "CheckPermission" {
			d.Methods[i].Handler = handleCheck
		}
	}
	return d
}()

func newPermissionsService(s *Server) *permissionsService {
	p := &permissionsService{s: s}
	p.checkInfo = &grpc.UnaryServerInfo{Server: p, FullMethod: v1.PermissionsService_CheckPermission_FullMethodName}
	p.checkHandler = p.serveCheck
	return p
}

// handleCheck is the handler of CheckPermission: the generated one's work,
// with a checkCall as the request, and the call's description and the
// handler given to the interceptor made once.
func handleCheck(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	p := srv.(*permissionsService)
	c := new(checkCall)
	if err := dec(c); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return p.serveCheck(ctx, c)
	}
	return interceptor(ctx, c, p.checkInfo, p.checkHandler)
}

// serveCheck answers a checkCall into its reply (or a plain request, as
// CheckPermission does).
func (p *permissionsService) serveCheck(ctx context.Context, req any) (any, error) {
	c, ok := req.(*checkCall)
	if !ok {
		return p.CheckPermission(ctx, req.(*v1.CheckPermissionRequest))
	}
	if err := p.check(ctx, &c.CheckPermissionRequest, &c.reply); err != nil {
		return nil, err
	}
	return &c.reply, nil
}

// callParts are the request of a unary call and the storage of its
// deadline: a checkCall's, or req itself and none.
func callParts(req any) (any, *deadlineCtx) {
	if c, ok := req.(*checkCall); ok {
		return &c.CheckPermissionRequest, &c.deadline
	}
	return req, nil
}
