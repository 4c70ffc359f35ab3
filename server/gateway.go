package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// gatewayHandler is the HTTP/JSON gateway: SpiceDB's REST mapping of the
// API (POST /v1/permissions/check, /v1/schema/write, ...), proxied to the
// in-process gRPC server so that authentication, validation, limits and
// metrics are the same as over gRPC. The Authorization header is passed on,
// after guardHTTP has checked it.
func (s *Server) gatewayHandler(ctx context.Context) (http.Handler, func(), error) {
	// reach's client options, without a key: the codec and the fixed
	// windows (client.go).
	conn, err := grpc.NewClient("passthrough:///reach-in-process", append(ClientOptions(""),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.pipe.DialContext(ctx) }),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.cfg.Limits.MaxMessageBytes*4)),
	)...)
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
	h := s.guardHTTP(mux)
	if s.cfg.Playground != nil {
		h = s.withPlayground(h)
	}
	return h, func() { conn.Close() }, nil
}

// watchPath is the gateway's path of WatchService/Watch.
const watchPath = "/v1/watch"

// guardHTTP wraps the gateway. It checks the key from the request's
// headers before a byte of the body is read, so that a client without the
// key cannot hold a connection by trickling a body (the gRPC server checks
// the key again). It then reads the whole body, at most MaxMessageBytes,
// within the server's read timeout, and lifts that deadline: net/http
// cancels a request whose connection hits its read deadline after the body,
// which would cut a slow answer or a Watch stream. Every request but a
// Watch stream gets HTTPWriteTimeout to finish its response.
func (s *Server) guardHTTP(next http.Handler) http.Handler {
	lim := s.cfg.Limits
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Errors: a ResponseWriter without deadlines (a test recorder).
		_ = rc.SetWriteDeadline(time.Now().Add(lim.HTTPWriteTimeout))
		if err := s.checkKey(r.Header.Values("Authorization")); err != nil {
			// The body is left unread; net/http then closes the
			// connection rather than drain it.
			w.Header().Set("Connection", "close")
			writeHTTPError(w, runtime.HTTPStatusFromCode(status.Code(err)), err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(lim.MaxMessageBytes)))
		if err != nil {
			w.Header().Set("Connection", "close")
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				writeHTTPError(w, http.StatusRequestEntityTooLarge, status.Errorf(codes.ResourceExhausted,
					"request body larger than the most of %d bytes", tooBig.Limit))
			case errors.Is(err, os.ErrDeadlineExceeded):
				writeHTTPError(w, http.StatusRequestTimeout, status.Errorf(codes.DeadlineExceeded,
					"request body not read within %s", lim.HTTPReadTimeout))
			default:
				writeHTTPError(w, http.StatusBadRequest, status.Errorf(codes.InvalidArgument, "reading the request body: %v", err))
			}
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		if r.URL.Path == watchPath {
			_ = rc.SetWriteDeadline(time.Time{})
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// writeHTTPError answers err (a status) as the gateway answers errors: the
// google.rpc.Status as JSON.
func writeHTTPError(w http.ResponseWriter, code int, err error) {
	buf, merr := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(status.Convert(err).Proto())
	if merr != nil {
		buf = []byte(`{"code":13,"message":"failed to marshal error message"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf)
}
