package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// benchStream stands for gRPC's stream in a context, where a handler sets
// headers and trailers.
type benchStream struct{ method string }

func (f benchStream) Method() string                  { return f.method }
func (f benchStream) SetHeader(metadata.MD) error     { return nil }
func (f benchStream) SendHeader(metadata.MD) error    { return nil }
func (f benchStream) SetTrailer(md metadata.MD) error { return nil }

// apiServer is a server whose cache knows every check of apiRequest.
func apiServer(b testing.TB) (*Server, func(i int) *v1.CheckPermissionRequest) {
	ts := startServer(b, testOptions{cfg: Config{Version: "v1.2.3"}})
	c := ts.client
	if _, err := c.WriteSchema(b.Context(), &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		b.Fatal(err)
	}
	var rels []*v1.RelationshipUpdate
	for i := range 100 {
		rels = append(rels, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
			Resource: obj("document", fmt.Sprintf("d%d", i)), Relation: "viewer", Subject: subj("group", "eng", "member"),
		}})
	}
	rels = append(rels, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
		Resource: obj("group", "eng"), Relation: "member", Subject: subj("user", "ana", ""),
	}})
	if _, err := c.WriteRelationships(b.Context(), &v1.WriteRelationshipsRequest{Updates: rels}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*v1.CheckPermissionRequest, 100)
	for i := range reqs {
		reqs[i] = &v1.CheckPermissionRequest{Resource: obj("document", fmt.Sprintf("d%d", i)), Permission: "view", Subject: subj("user", "ana", "")}
		if _, err := c.CheckPermission(b.Context(), reqs[i]); err != nil { // warm
			b.Fatal(err)
		}
	}
	return ts.Server, func(i int) *v1.CheckPermissionRequest { return reqs[i%len(reqs)] }
}

// BenchmarkCheckPermissionAPI times what the server does for one
// CheckPermission above gRPC's transport, the check cache warm: decoding
// the request, the interceptor (each of its steps alone too), the handler
// and encoding the response. (BenchmarkCheckPermission times the whole
// round trip over loopback, client and transport included.)
func BenchmarkCheckPermissionAPI(b *testing.B) {
	s, req := apiServer(b)
	method := v1.PermissionsService_CheckPermission_FullMethodName
	md := metadata.Pairs("authorization", "Bearer "+testKey, "user-agent", "grpc-go/1.85.0", "content-type", "application/grpc")
	base := grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(context.Background(), md), benchStream{method})
	zed := metadata.NewIncomingContext(context.Background(), metadata.Join(md, metadata.Pairs(string(requestmeta.RequestServerVersion), "1")))
	zed = grpc.NewContextWithServerTransportStream(zed, benchStream{method})
	info := &grpc.UnaryServerInfo{Server: newPermissionsService(s), FullMethod: method}
	var handle func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error)
	for _, m := range permissionsDesc.Methods {
		if m.MethodName == "CheckPermission" {
			handle = m.Handler
		}
	}
	wire := make([][]byte, 100)
	for i := range wire {
		wire[i], _ = proto.Marshal(req(i))
	}
	codec := apiCodec(s)

	run := func(name string, f func(i int)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f(i)
				i++
			}
		})
	}
	run("step=auth", func(int) {
		if err := s.authenticate(base, method); err != nil {
			b.Fatal(err)
		}
	})
	run("step=version", func(int) { s.reportVersion(base) })
	run("step=version-asked", func(int) { s.reportVersion(zed) })
	run("step=validate", func(i int) {
		if err := validate(req(i)); err != nil {
			b.Fatal(err)
		}
	})
	run("step=deadline", func(int) {
		ctx, cancel := context.WithTimeout(base, s.cfg.Limits.RequestTimeout)
		_ = ctx
		cancel()
	})
	run("step=deadline-lazy", func(int) {
		_, c := withDeadline(base, time.Now().Add(s.cfg.Limits.RequestTimeout))
		c.cancel()
	})
	run("step=observe", func(int) { s.observe(base, method, time.Now(), nil) })
	run("step=bound", func(int) { _ = boundStatus(nil) })
	run("step=interceptor", func(i int) {
		if _, err := s.unaryInterceptor(base, req(i), info, func(ctx context.Context, req any) (any, error) { return nil, nil }); err != nil {
			b.Fatal(err)
		}
	})
	run("step=handler", func(i int) {
		if _, err := info.Server.(*permissionsService).CheckPermission(base, req(i)); err != nil {
			b.Fatal(err)
		}
	})
	run("step=decode", func(i int) {
		var m v1.CheckPermissionRequest
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire[i%len(wire)])}, &m); err != nil {
			b.Fatal(err)
		}
	})
	for _, ctx := range []struct {
		name string
		ctx  context.Context
	}{{"all", base}, {"all-zed", zed}} {
		run(ctx.name, func(i int) {
			resp, err := handle(info.Server, ctx.ctx, func(m any) error {
				return codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire[i%len(wire)])}, m)
			}, s.unaryInterceptor)
			if err != nil {
				b.Fatal(err)
			}
			out, err := codec.Marshal(resp)
			if err != nil {
				b.Fatal(err)
			}
			out.Free()
		})
	}
}
