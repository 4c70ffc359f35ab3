package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Flow control. gRPC's default is a window of 64 KiB that grows with an
// estimate of the connection's bandwidth-delay product (up to 16 MiB),
// which it measures with a PING, sent with a WINDOW_UPDATE, whenever data
// arrives and no measurement is under way: with calls one after the
// other, at every call, on both sides (six more frames a call: a PING,
// its WINDOW_UPDATE and its ack each way, and a dozen allocations).
// reach's server and its own clients use fixed windows instead: 1 MiB a
// stream (what gRPC-Java starts with) and 4 MiB a connection. A stream
// then carries at most 1 MiB per round trip (10 MiB/s at 100 ms, where
// the estimate might have grown the window further), and a peer can have
// the server hold at most 1 MiB per stream it has not read yet (where the
// estimate might reach 16 MiB). Each side sets the windows it receives
// on: a client of another make keeps gRPC's estimate, and its PINGs, for
// what it receives. (gRPC's documentation advises static windows for
// memory-constrained processes only; the estimate's cost at every call of
// a request-response API is the reason here.)
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
)

// ClientOptions are the gRPC dial options of reach's own clients of the
// API (reach --endpoint): the server's codec (vtprotobuf's code, see
// codec.go), its fixed flow-control windows, and, if key is not "", the key
// sent as a bearer token in the authorization header of every call, as
// SpiceDB's clients send it. Add the transport credentials.
func ClientOptions(key string) []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(clientCodec{newCodec()})),
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	}
	if key != "" {
		a := &bearerAuth{md: metadata.Pairs("authorization", "Bearer "+key)}
		opts = append(opts, grpc.WithChainUnaryInterceptor(a.unary), grpc.WithChainStreamInterceptor(a.stream))
	}
	return opts
}

// clientCodec is the codec on a client: the server's, but nameless. gRPC
// names the content type of a call after its codec, and so would send
// application/grpc+proto (building that string for every call) where its
// own codec sends application/grpc; the server answers both alike.
type clientCodec struct{ *codec }

func (clientCodec) Name() string { return "" }

// bearerAuth sends the key in the authorization header of every call. It
// is outgoing metadata, made once, rather than a
// credentials.PerRPCCredentials, which gRPC asks for a fresh map of
// headers at every call (and builds it an audience string and a context).
// Unlike PerRPCCredentials, it does not check that the connection is
// secure: ClientOptions' caller picks the transport credentials.
type bearerAuth struct{ md metadata.MD }

// with adds the key to ctx's outgoing metadata: without copying when ctx
// has none (the usual case), appended to it otherwise.
func (a *bearerAuth) with(ctx context.Context) context.Context {
	if _, ok := metadata.FromOutgoingContext(ctx); ok {
		return metadata.AppendToOutgoingContext(ctx, "authorization", a.md["authorization"][0])
	}
	return metadata.NewOutgoingContext(ctx, a.md)
}

func (a *bearerAuth) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(a.with(ctx), method, req, reply, cc, opts...)
}

func (a *bearerAuth) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(a.with(ctx), desc, cc, method, opts...)
}
