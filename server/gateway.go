package server

import (
	"context"
	"fmt"
	"net"
	"net/http"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

// gatewayHandler is the HTTP/JSON gateway: SpiceDB's REST mapping of the
// API (POST /v1/permissions/check, /v1/schema/write, ...), proxied to the
// in-process gRPC server so that authentication, validation, limits and
// metrics are the same as over gRPC. The Authorization header is passed on.
func (s *Server) gatewayHandler(ctx context.Context) (http.Handler, func(), error) {
	conn, err := grpc.NewClient("passthrough:///reach-in-process",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.pipe.DialContext(ctx) }),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.cfg.Limits.MaxMessageBytes*4)),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway connection: %w", err)
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
	)
	for _, reg := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		v1.RegisterPermissionsServiceHandler,
		v1.RegisterSchemaServiceHandler,
		v1.RegisterWatchServiceHandler,
	} {
		if err := reg(ctx, mux, conn); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("gateway: %w", err)
		}
	}
	h := http.MaxBytesHandler(mux, int64(s.cfg.Limits.MaxMessageBytes))
	return h, func() { conn.Close() }, nil
}
