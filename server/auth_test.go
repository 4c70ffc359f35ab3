package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionalphapb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// apiMethod is one method of a service the server registers, as its
// descriptors describe it.
type apiMethod struct {
	full string // "/authzed.api.v1.PermissionsService/CheckPermission"
	desc protoreflect.MethodDescriptor
}

// apiMethods walks the services registered on the server (every one but
// those served without a key on purpose: the health service and server
// reflection, see TestKeylessServices) and returns all their methods, so
// that a method or service added later is covered without touching the
// tests.
func apiMethods(t *testing.T, srv *Server) []apiMethod {
	t.Helper()
	var out []apiMethod
	for name, info := range srv.GRPCServer().GetServiceInfo() {
		if keylessService[name] {
			continue
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		require.NoError(t, err, name)
		sd := d.(protoreflect.ServiceDescriptor)
		require.Equal(t, sd.Methods().Len(), len(info.Methods), name)
		for _, m := range info.Methods {
			md := sd.Methods().ByName(protoreflect.Name(m.Name))
			require.NotNil(t, md, "%s/%s", name, m.Name)
			require.Equal(t, m.IsClientStream, md.IsStreamingClient())
			require.Equal(t, m.IsServerStream, md.IsStreamingServer())
			out = append(out, apiMethod{full: "/" + name + "/" + m.Name, desc: md})
		}
	}
	return out
}

func newMessage(t *testing.T, d protoreflect.MessageDescriptor) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	require.NoError(t, err, d.FullName())
	return mt.New().Interface()
}

// call invokes m with an empty request (a stream: one empty message, then
// the end of the client's side) and returns the call's status.
func call(t *testing.T, ctx context.Context, conn *grpc.ClientConn, m apiMethod) error {
	t.Helper()
	req, resp := newMessage(t, m.desc.Input()), newMessage(t, m.desc.Output())
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		return conn.Invoke(ctx, m.full, req, resp)
	}
	desc := &grpc.StreamDesc{ClientStreams: m.desc.IsStreamingClient(), ServerStreams: m.desc.IsStreamingServer()}
	cs, err := conn.NewStream(ctx, desc, m.full)
	if err != nil {
		return err
	}
	if err := cs.SendMsg(req); err != nil {
		return cs.RecvMsg(resp) // the server ended the call: its status
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	return cs.RecvMsg(resp)
}

// Issue 17: every method of every service, unary or stream, refuses a call
// without a key (Unauthenticated) or with a wrong key (PermissionDenied),
// before looking at the (here empty, so mostly invalid) request. With the
// right key the same calls get past authentication.
func TestEveryMethodRequiresTheKey(t *testing.T) {
	ts := startServer(t, testOptions{})
	mustWriteSchema(t, ts.client, testSchema)
	methods := apiMethods(t, ts.Server)
	// The three services of authzed.api.v1 that reach serves, at least.
	services := map[string]bool{}
	for _, m := range methods {
		services[string(m.desc.Parent().FullName())] = true
	}
	for _, s := range []string{"authzed.api.v1.PermissionsService", "authzed.api.v1.SchemaService", "authzed.api.v1.WatchService"} {
		require.True(t, services[s], "%s is not registered", s)
	}
	require.GreaterOrEqual(t, len(methods), 17) // 10 + 6 + 1 today

	dial := func(key string) *grpc.ClientConn {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if key != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(bearer(key)))
		}
		conn, err := grpc.NewClient(ts.grpcAddr, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	none, wrong, right := dial(""), dial("not-the-key"), dial(testKey)
	for _, m := range methods {
		t.Run(strings.TrimPrefix(m.full, "/authzed.api.v1."), func(t *testing.T) {
			requireStatus(t, call(t, testCtx(t), none, m), codes.Unauthenticated, "")
			requireStatus(t, call(t, testCtx(t), wrong, m), codes.PermissionDenied, "")
			// Past authentication: an answer, a validation error, or
			// Unimplemented (ComputablePermissions, DependentRelations).
			// A watch runs until its deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			code := status.Code(call(t, ctx, right, m))
			require.NotContains(t, []codes.Code{codes.Unauthenticated, codes.PermissionDenied}, code)
		})
	}

	// The health service answers without a key.
	h, err := healthpb.NewHealthClient(none).Check(testCtx(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())
}

// keylessService are the services served without a key, deliberately.
var keylessService = map[string]bool{
	healthpb.Health_ServiceDesc.ServiceName:               true,
	reflectionpb.ServerReflection_ServiceDesc.ServiceName: true,
	"grpc.reflection.v1alpha.ServerReflection":            true,
}

// Issue 15: the health service and server reflection (v1 and v1alpha, so
// that grpcurl lists and describes the API) answer without a key. Our
// reading of SpiceDB: it registers reflection through grpcutil's
// NewAuthlessReflectionInterceptor, which exempts it from the auth
// middleware, so grpcurl works against SpiceDB without a token; reflection
// describes the API's public protos and reads nothing from the store, so
// reach does the same. Every other service needs the key
// (TestEveryMethodRequiresTheKey).
func TestKeylessServices(t *testing.T) {
	ts := startServer(t, testOptions{})
	conn, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })

	registered := map[string]bool{}
	for name := range ts.GRPCServer().GetServiceInfo() {
		registered[name] = true
	}
	for name := range keylessService {
		require.True(t, registered[name], "%s is not served", name)
	}

	// v1
	st, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(testCtx(t))
	require.NoError(t, err)
	require.NoError(t, st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	resp, err := st.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	require.Contains(t, names, "authzed.api.v1.PermissionsService")
	require.Contains(t, names, "authzed.api.v1.SchemaService")
	require.NoError(t, st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "authzed.api.v1.PermissionsService"}}))
	resp, err = st.Recv()
	require.NoError(t, err)
	require.NotEmpty(t, resp.GetFileDescriptorResponse().GetFileDescriptorProto())
	require.NoError(t, st.CloseSend())

	// v1alpha, which older grpcurl builds use.
	old, err := reflectionalphapb.NewServerReflectionClient(conn).ServerReflectionInfo(testCtx(t))
	require.NoError(t, err)
	require.NoError(t, old.Send(&reflectionalphapb.ServerReflectionRequest{MessageRequest: &reflectionalphapb.ServerReflectionRequest_ListServices{}}))
	oresp, err := old.Recv()
	require.NoError(t, err)
	require.NotEmpty(t, oresp.GetListServicesResponse().GetService())
	require.NoError(t, old.CloseSend())
}

// Issue 17: the same over the HTTP gateway, for every method with an HTTP
// binding (google.api.http) in its descriptor: 401 without a key, 403 with a
// wrong one, each before the body is read.
func TestEveryHTTPRouteRequiresTheKey(t *testing.T) {
	ts := startServer(t, testOptions{})
	n := 0
	for _, m := range apiMethods(t, ts.Server) {
		rule, _ := proto.GetExtension(m.desc.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue
		}
		method, path := http.MethodPost, rule.GetPost()
		if path == "" {
			method, path = http.MethodGet, rule.GetGet()
		}
		require.NotEmpty(t, path, "%s: an HTTP binding other than POST or GET", m.full)
		n++
		for key, want := range map[string]int{"": http.StatusUnauthorized, "not-the-key": http.StatusForbidden} {
			req, err := http.NewRequest(method, "http://"+ts.httpAddr+path, strings.NewReader("{}"))
			require.NoError(t, err)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, want, resp.StatusCode, "%s %s with key %q", method, path, key)
		}
	}
	require.GreaterOrEqual(t, n, 17)
}

// Issue 17: WriteRelationships and DeleteRelationships take at most
// MaxPreconditions preconditions (SpiceDB's default, 1000), and refuse more
// with SpiceDB's reason and metadata (whose maximum is named
// maximum_updates_allowed in SpiceDB's own error, not the
// maximum_preconditions_allowed of the API's documentation).
func TestPreconditionLimit(t *testing.T) {
	for _, max := range []int{0, 3} { // 0: the default
		t.Run(strconv.Itoa(max), func(t *testing.T) {
			ts := startServer(t, testOptions{cfg: Config{Limits: Limits{MaxPreconditions: max}}})
			c := ts.client
			mustWriteSchema(t, c, testSchema)
			limit := max
			if limit == 0 {
				limit = DefaultMaxPreconditions
			}
			require.Equal(t, 1000, DefaultMaxPreconditions)
			pre := func(n int) []*v1.Precondition {
				out := make([]*v1.Precondition, n)
				for i := range out {
					out[i] = &v1.Precondition{
						Operation: v1.Precondition_OPERATION_MUST_NOT_MATCH,
						Filter:    &v1.RelationshipFilter{ResourceType: "document", OptionalResourceId: "absent" + strconv.Itoa(i)},
					}
				}
				return out
			}
			tooMany := func(t *testing.T, err error) {
				t.Helper()
				requireStatus(t, err, codes.InvalidArgument, "ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST")
				for _, d := range status.Convert(err).Details() {
					if info, ok := d.(*errdetails.ErrorInfo); ok {
						require.Equal(t, map[string]string{
							"precondition_count":      strconv.Itoa(limit + 1),
							"maximum_updates_allowed": strconv.Itoa(limit),
						}, info.GetMetadata())
					}
				}
			}
			ctx := testCtx(t)
			write := func(n int) error {
				_, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
					Updates: touch(t, "document:d1#viewer@user:ana"), OptionalPreconditions: pre(n),
				})
				return err
			}
			del := func(n int) error {
				_, err := c.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
					RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"}, OptionalPreconditions: pre(n),
				})
				return err
			}
			require.NoError(t, write(limit))
			tooMany(t, write(limit+1))
			require.NoError(t, del(limit))
			tooMany(t, del(limit+1))
		})
	}
}
